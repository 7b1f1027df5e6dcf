package keyserver

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sealpost/sealpost/keyserver/revocation"
)

// Revocations returns one page of the revocation feed from cursor from
// (spec/keyserver.md §5.9): at most revocation.MaxPage revoked devices
// whose revocation the log recorded at index from or above, in index
// order, and the cursor of the next page. A relay in the same process
// reads it directly (it implements relay.RevocationSource).
func (s *Server) Revocations(ctx context.Context, from int64) ([]revocation.Entry, int64, error) {
	if from < 0 {
		return nil, 0, fmt.Errorf("keyserver: revocation cursor %d below 0", from)
	}
	rs, err := s.store.Revocations(ctx, from-1, revocation.MaxPage)
	if err != nil {
		return nil, 0, fmt.Errorf("keyserver: revocations: %w", err)
	}
	out := make([]revocation.Entry, len(rs))
	next := from
	for i, r := range rs {
		out[i] = revocation.Entry{Index: r.LogIndex, Device: revocation.DeviceHash(r.Handle, r.Device), Time: r.Time}
		next = r.LogIndex + 1
	}
	return out, next, nil
}

// handleRevocations answers GET /v1/revocations?from=N (spec/keyserver.md
// §5.9). N defaults to 0.
func (s *Server) handleRevocations(w http.ResponseWriter, r *http.Request) (int, any, *apiError) {
	var from int64
	if r.URL.Query().Has("from") {
		var e *apiError
		if from, e = queryInt(r, "from"); e != nil {
			return 0, nil, e
		}
	}
	es, _, err := s.Revocations(r.Context(), from)
	if err != nil {
		return 0, nil, internal("revocations", err)
	}
	return http.StatusOK, revocation.NewPage(es, from), nil
}
