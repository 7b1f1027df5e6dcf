package client

import (
	"os"
	"testing"

	"github.com/sealpost/sealpost/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}
