package nft

import (
	"testing"

	"github.com/berth-dev/berth/test/fixtures"
)

// TestMain holds the host-network lock: these tests change the host's shared nftables
// state and bridges, which the integration tests (another package, run in parallel)
// compare before and after.
func TestMain(m *testing.M) { fixtures.MainLocked(m) }
