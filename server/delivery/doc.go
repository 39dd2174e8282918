// Package delivery hands messages decided by the flows to the outside world:
// a demo inbox kept in memory, an SMTP submission server, and a
// Twilio-compatible SMS API. Each implements message.Sender.
//
// The error text of every Send is recorded in the ledger as the failure
// reason, and the ledger keeps addresses only as keyed hashes. So error text
// here never contains credentials, the recipient's address or the message
// text: they are scrubbed even from what a remote server echoes back.
package delivery
