package relay

import (
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// storeFailure is the Error code that ends a connection whose store call
// failed with err (spec/relay.md §10): ERROR_CODE_UNAVAILABLE, which the
// client retries with backoff, when the database is down or the disk full
// (store.IsUnavailable); ERROR_CODE_INTERNAL for any other fault.
func storeFailure(err error) wire.ErrorCode {
	if store.IsUnavailable(err) {
		return wire.ErrorCode_ERROR_CODE_UNAVAILABLE
	}
	return wire.ErrorCode_ERROR_CODE_INTERNAL
}
