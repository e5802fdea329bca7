package cluster

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// dbFile is the bbolt file inside data_dir.
const dbFile = "cluster.db"

var (
	bucketEntries = []byte("raft-entries") // big-endian index → raftpb.Entry
	bucketMeta    = []byte("raft-meta")
	keyHardState  = []byte("hardstate") // raftpb.HardState
	keySnapshot   = []byte("snapshot")  // raftpb.Snapshot
	keyNode       = []byte("node")      // nodeMeta (JSON)
)

// nodeMeta is who this data_dir belongs to.
type nodeMeta struct {
	Name      string `json:"node_name"`
	ClusterID string `json:"cluster_id,omitempty"`
	// ID is the node's raft ID once it is a member (0 before).
	ID uint64 `json:"id,omitempty"`
}

// storage is the durable raft state of one node in a bbolt file: the log
// entries, the hard state, the latest snapshot and the node's identity.
// Each Ready batch is written in one transaction (save). Its methods are
// called from the replica's loop only (and before it starts).
type storage struct {
	db *bolt.DB
}

// openStorage opens (creating) dir/cluster.db. Another process holding the
// file makes it fail after a second, naming the file.
func openStorage(dir string) (*storage, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: data_dir: %w", ErrStorage, err)
	}
	path := filepath.Join(dir, dbFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s is in use by another process", ErrStorage, path)
		}
		return nil, fmt.Errorf("%w: opening %s: %w", ErrStorage, path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEntries, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: initialising %s: %w", ErrStorage, path, err)
	}
	return &storage{db: db}, nil
}

func (s *storage) close() error { return s.db.Close() }

func indexKey(i uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], i)
	return k[:]
}

// meta returns the node's identity (zero when the file is new).
func (s *storage) meta() (nodeMeta, error) {
	var m nodeMeta
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get(keyNode); b != nil {
			return json.Unmarshal(b, &m)
		}
		return nil
	})
	if err != nil {
		return nodeMeta{}, fmt.Errorf("%w: reading the node identity: %w", ErrStorage, err)
	}
	return m, nil
}

func (s *storage) setMeta(m nodeMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyNode, b) }); err != nil {
		return fmt.Errorf("%w: writing the node identity: %w", ErrStorage, err)
	}
	return nil
}

// load returns what a restarting replica needs: the snapshot (nil when
// none), the hard state (nil when none) and the entries after the
// snapshot, in index order.
func (s *storage) load() (snap *raftpb.Snapshot, hs *raftpb.HardState, ents []*raftpb.Entry, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if b := meta.Get(keySnapshot); b != nil {
			snap = &raftpb.Snapshot{}
			if err := proto.Unmarshal(b, snap); err != nil {
				return fmt.Errorf("snapshot: %w", err)
			}
		}
		if b := meta.Get(keyHardState); b != nil {
			hs = &raftpb.HardState{}
			if err := proto.Unmarshal(b, hs); err != nil {
				return fmt.Errorf("hard state: %w", err)
			}
		}
		after := snap.GetMetadata().GetIndex()
		c := tx.Bucket(bucketEntries).Cursor()
		for k, v := c.Seek(indexKey(after + 1)); k != nil; k, v = c.Next() {
			e := &raftpb.Entry{}
			if err := proto.Unmarshal(v, e); err != nil {
				return fmt.Errorf("entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			ents = append(ents, e)
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: loading the raft log: %w", ErrStorage, err)
	}
	return snap, hs, ents, nil
}

// save writes one Ready batch in one transaction: a received snapshot
// (dropping the entries it covers), the new entries (dropping any
// previously written entry at or after the first new index, as raft
// requires) and the hard state. Nothing to write is no transaction.
func (s *storage) save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	hasSnap := snap != nil && !raft.IsEmptySnap(snap)
	hasHS := hs != nil && !raft.IsEmptyHardState(hs)
	if !hasSnap && !hasHS && len(ents) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		eb, meta := tx.Bucket(bucketEntries), tx.Bucket(bucketMeta)
		if hasSnap {
			b, err := proto.Marshal(snap)
			if err != nil {
				return err
			}
			if err := meta.Put(keySnapshot, b); err != nil {
				return err
			}
			if err := deleteRange(eb, 0, snap.GetMetadata().GetIndex()); err != nil {
				return err
			}
		}
		if len(ents) > 0 {
			if err := deleteRange(eb, ents[0].GetIndex(), ^uint64(0)); err != nil {
				return err
			}
			for _, e := range ents {
				b, err := proto.Marshal(e)
				if err != nil {
					return err
				}
				if err := eb.Put(indexKey(e.GetIndex()), b); err != nil {
					return err
				}
			}
		}
		if hasHS {
			b, err := proto.Marshal(hs)
			if err != nil {
				return err
			}
			if err := meta.Put(keyHardState, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: writing the raft log: %w", ErrStorage, err)
	}
	return nil
}

// compact stores a snapshot the node made itself and drops the entries up
// to compactIndex (which keeps a tail after the snapshot for slow
// followers in memory; on disk the tail is not needed).
func (s *storage) compact(snap *raftpb.Snapshot, compactIndex uint64) error {
	b, err := proto.Marshal(snap)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keySnapshot, b); err != nil {
			return err
		}
		return deleteRange(tx.Bucket(bucketEntries), 0, compactIndex)
	})
	if err != nil {
		return fmt.Errorf("%w: writing a snapshot: %w", ErrStorage, err)
	}
	return nil
}

// entryCount is the number of stored entries (tests check compaction).
func (s *storage) entryCount() int {
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketEntries).Stats().KeyN
		return nil
	})
	return n
}

// deleteRange deletes the entries with lo <= index <= hi.
func deleteRange(b *bolt.Bucket, lo, hi uint64) error {
	c := b.Cursor()
	for k, _ := c.Seek(indexKey(lo)); k != nil && binary.BigEndian.Uint64(k) <= hi; k, _ = c.Seek(indexKey(lo)) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
