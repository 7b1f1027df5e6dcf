package keyserver

// SignatureChecks is how many certificate, revocation, prekey and
// challenge-response signatures s has verified (not token signatures).
func SignatureChecks(s *Server) int64 { return s.sigChecks.Load() }
