package memory_test

import (
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/memory"
	"github.com/keyward/keyward/storage/storagetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	newStore := func(t *testing.T) keyward.Store {
		s := memory.New(memory.Config{})
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	storagetest.Run(t, newStore)
	storagetest.RunConcurrency(t, newStore)
}
