// Package webui serves the "try it" page: a single HTML page that publishes the
// browser's camera and microphone to a channel with sora-js-sdk and shows every
// remote stream of that channel.
//
// Model. Handler(sdkDir) answers three kinds of request:
//
//   - GET / renders the embedded page. The page loads the SDK as an ES module
//     from /sdk/sora.js and connects to ws(s)://<the page's host>/signaling, so
//     the handler is meant to be mounted on the signaling listener. When
//     sdkDir/sora.js does not exist the page still renders but shows how to
//     install the SDK instead of loading it.
//   - GET /sdk/<file> serves a regular file from sdkDir (the npm package's dist
//     folder). Names are resolved inside sdkDir with os.Root, so "..", absolute
//     names and symbolic links that lead out of sdkDir are refused; directories
//     are not listed.
//   - Anything else is 404; methods other than GET and HEAD on a known path are 405.
//
// The SDK is never embedded: it comes from the npm package (make sdk), so the
// repository holds no copy of it.
//
// Concurrency. The returned handler holds no mutable state; it may serve any
// number of requests at once. The presence of the SDK is checked on every
// request, so installing it while the server runs takes effect at once.
package webui
