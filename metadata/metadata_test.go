package metadata

import (
	"errors"
	"testing"

	"github.com/berth-dev/berth/errdefs"
)

type rec struct {
	Name string
	N    int
}

func TestPutGetListDelete(t *testing.T) {
	db, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Put("things", "b", rec{"b", 2}); err != nil {
		t.Fatal(err)
	}
	if err := db.Put("things", "a", rec{"a", 1}); err != nil {
		t.Fatal(err)
	}
	var r rec
	if err := db.Get("things", "b", &r); err != nil || r.N != 2 {
		t.Fatalf("get: %v %+v", err, r)
	}
	all, err := List[rec](db, "things")
	if err != nil || len(all) != 2 || all[0].Name != "a" {
		t.Fatalf("list: %v %+v", err, all)
	}
	if err := db.Delete("things", "a"); err != nil {
		t.Fatal(err)
	}
	if err := db.Get("things", "a", &r); !errdefs.IsNotFound(err) {
		t.Fatalf("want not found, got %v", err)
	}
	if err := db.Get("nobucket", "x", &r); !errdefs.IsNotFound(err) {
		t.Fatalf("want not found, got %v", err)
	}
}

func TestUpdateRollsBack(t *testing.T) {
	db, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	boom := errors.New("boom")
	err = db.Update(func(tx *Tx) error {
		if err := tx.Put("things", "x", rec{"x", 1}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	var r rec
	if err := db.Get("things", "x", &r); !errdefs.IsNotFound(err) {
		t.Fatalf("record survived a rolled-back transaction: %v", err)
	}
}
