package server

// imageManageRoutes registers the image manage endpoints (issue 4).
func (s *Server) imageManageRoutes() {}
