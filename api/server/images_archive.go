package server

// imageArchiveRoutes registers the image archive endpoints (issue 4).
func (s *Server) imageArchiveRoutes() {}
