// Package metadata is Berth's one transactional record store (bbolt), holding JSON
// records in named buckets: images, refs, containers, snapshots and so on.
package metadata

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/errdefs"
	bolt "go.etcd.io/bbolt"
)

// DB is the metadata database. It is safe for concurrent use.
type DB struct {
	bolt *bolt.DB
}

// Open opens (creating if needed) <root>/metadata.db.
func Open(root string) (*DB, error) {
	b, err := bolt.Open(filepath.Join(root, "metadata.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open metadata database: %w", err)
	}
	return &DB{bolt: b}, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.bolt.Close() }

// Tx is one read or read-write transaction.
type Tx struct{ tx *bolt.Tx }

// Update runs fn in a read-write transaction; fn's error rolls everything back.
func (db *DB) Update(fn func(*Tx) error) error {
	return db.bolt.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(*Tx) error) error {
	return db.bolt.View(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

// Put stores v as JSON under bucket/key.
func (t *Tx) Put(bucket, key string, v any) error {
	b, err := t.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

// Get decodes bucket/key into v; a missing record is errdefs.ErrNotFound.
func (t *Tx) Get(bucket, key string, v any) error {
	b := t.tx.Bucket([]byte(bucket))
	if b == nil {
		return fmt.Errorf("%s %s: %w", bucket, key, errdefs.ErrNotFound)
	}
	data := b.Get([]byte(key))
	if data == nil {
		return fmt.Errorf("%s %s: %w", bucket, key, errdefs.ErrNotFound)
	}
	return json.Unmarshal(data, v)
}

// Has reports whether bucket/key exists.
func (t *Tx) Has(bucket, key string) bool {
	b := t.tx.Bucket([]byte(bucket))
	return b != nil && b.Get([]byte(key)) != nil
}

// Delete removes bucket/key; deleting a missing key is not an error.
func (t *Tx) Delete(bucket, key string) error {
	b := t.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.Delete([]byte(key))
}

// ForEach calls fn with every key and raw JSON value of bucket, in key order.
func (t *Tx) ForEach(bucket string, fn func(key string, raw []byte) error) error {
	b := t.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

// Put stores one record in its own transaction.
func (db *DB) Put(bucket, key string, v any) error {
	return db.Update(func(tx *Tx) error { return tx.Put(bucket, key, v) })
}

// Get reads one record.
func (db *DB) Get(bucket, key string, v any) error {
	return db.View(func(tx *Tx) error { return tx.Get(bucket, key, v) })
}

// Delete removes one record.
func (db *DB) Delete(bucket, key string) error {
	return db.Update(func(tx *Tx) error { return tx.Delete(bucket, key) })
}

// List decodes every record of bucket with decode, in key order.
func List[T any](db *DB, bucket string) ([]T, error) {
	var out []T
	err := db.View(func(tx *Tx) error {
		return tx.ForEach(bucket, func(_ string, raw []byte) error {
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
	})
	return out, err
}
