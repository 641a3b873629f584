package distribution

import (
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
)

// BenchmarkPull pulls a 100 MB image in 5 layers from a loopback registry into fresh
// stores (download, verify, store, unpack, commit).
func BenchmarkPull(b *testing.B) {
	requireRoot(b)
	reg := newRegistry(b, nil)
	img, err := random.Image(20<<20, 5)
	if err != nil {
		b.Fatal(err)
	}
	push(b, reg+"/library/big:latest", img)
	size, _ := img.Size()
	b.SetBytes(5 * 20 << 20)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		e := openEnv(b, b.TempDir())
		p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
		b.StartTimer()
		if _, err := p.Pull(ctx, "big", nil, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		e.db.Close()
		b.StartTimer()
		i++
	}
	_ = fmt.Sprint(size)
}
