package flows

// CheckOfToken is the check a link's page asks for, as the terminal that
// asked shows it: for tests that hold only the token from the message.
func (s *Service) CheckOfToken(token string) string { return s.linkCheckOf(s.linkTicketOf(token)) }
