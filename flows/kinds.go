package flows

import (
	"encoding/json"
	"time"
)

// The kinds of fact the flows record. Each is one atomic thing that
// happened; anything like "verified" or "signed in now" is derived by
// reading them. Names are noun.verb-in-past-tense so that a ledger reads
// as a diary.
const (
	// Users and devices.
	KindUserCreated     = "user.created"               // User, Device: a user tag came to be (anonymous until an address is confirmed)
	KindUserMerged      = "user.merged"                // User: this (anonymous) user was merged into another; body.into
	KindUserAbsorbed    = "user.absorbed"              // User: this account took in a merged user's data; body lists what moved
	KindDeviceSignedIn  = "device.signed_in"           // User, Device: the device now acts as the user
	KindDeviceSignedOut = "device.signed_out"          // User, Device: the device stopped acting as the user
	KindDeviceSeen      = "device.seen"                // User, Device: a signed-in device connected
	KindSignedOutAll    = "user.signed_out_everywhere" // User, Device (who asked): every device of the user signed out
	KindNicknameSet     = "nickname.set"               // User, Device
	KindStarAdded       = "star.added"                 // User, Device
	KindStarRemoved     = "star.removed"               // User, Device

	// Addresses: a claim is added, may be confirmed, and may end. At any
	// instant at most one user holds a confirmed, unended claim on an
	// address hash: that user owns it.
	KindAddressAdded     = "address.added"     // User, Address
	KindAddressConfirmed = "address.confirmed" // User, Address
	KindAddressEnded     = "address.ended"     // User, Address

	// Codes. The kind says how the code went out, so the governor can
	// count per channel from the index alone.
	KindCodeEmailed  = "code.emailed"  // Device, Address, Ticket (User when signed in)
	KindCodeTexted   = "code.texted"   // Device, Address, Ticket
	KindCodeFailed   = "code.failed"   // Device, Address, Ticket: a wrong code was entered
	KindCodeAccepted = "code.accepted" // Device, Address, Ticket: the right code was entered

	// Step-up: the device may do protected actions until body.expires.
	KindStepUpGranted = "stepup.granted" // User, Device, Ticket

	// Notices: a change to how an account signs in, told to its other
	// addresses. Not governed: only the account's own changes cause them.
	KindNoticeQueued = "notice.queued" // User, Address, Ticket
	// KindSupportRefused is a refusal that sent a person to support; its
	// sequence number is what they quote.
	KindSupportRefused = "support.refused" // body: code, message
	// KindRegistrationAbandoned: a registration whose every challenge
	// expired with nothing confirmed was cleaned up (cleanup.go).
	KindRegistrationAbandoned = "registration.abandoned" // User

	// Device linking: a new device shows a short code, a signed-in device
	// approves it. The ticket is a MAC of the code, so the ledger finds the
	// request from the code without holding it.
	KindLinkRequested = "link.requested" // Device, Ticket
	KindLinkApproved  = "link.approved"  // User, Device (the new one), Ticket

	// Account split (seed 002, end notes): the right code for an address
	// confirmed on an account that has another address of its kind offers
	// a choice; the choice is its own fact.
	KindSplitOffered = "signin.split_offered" // User (the owner), Device, Address, Ticket
	KindSplitChosen  = "signin.split_chosen"  // Device, Address, Ticket

	// Passwords: the PHC string of each new password; each try at one.
	KindPasswordSet      = "password.set"      // User, Device
	KindPasswordFailed   = "password.failed"   // User, Device (Address when signing in)
	KindPasswordAccepted = "password.accepted" // User, Device (Address when signing in)

	// Magic links: sent like codes (and governed like them), used once.
	KindLinkEmailed = "link.emailed" // Device, Address, Ticket (User for a registration)
	KindLinkTexted  = "link.texted"  // Device, Address, Ticket
	KindLinkUsed    = "link.used"    // Device, Address, Ticket
	// KindLinkAttached is a link that went in the same message as a
	// code (an email's confirmation: either confirms it). The message is
	// counted once, by its code, so this kind is not governed.
	KindLinkAttached = "link.attached" // User, Device, Address, Ticket
	// KindLinkRefused: a link's page was given the wrong check
	// (ConfirmLinkChecked); the link had its one attempt and works no more.
	KindLinkRefused = "link.refused" // User, Device, Address, Ticket

	// Delivery outcomes, recorded after the commit that decided a message.
	KindMessageSent   = "message.sent"   // Ticket
	KindMessageFailed = "message.failed" // Ticket; body.reason
	// The governor held a message back: Device, Address (User when known).
	// One per request, up to HeldRecords for an address between two
	// messages to it.
	KindMessageHeld = "message.held"
	// A governed message went out at the request of a source network:
	// Address is "net:" and the network's keyed hash (never the network
	// itself), Ticket the message's. The governor's per-source limit
	// counts these, so it holds across restarts and servers.
	KindMessageSource = "message.source"
)

// Why a code has the digits it has (codeIssuedBody.Why).
const (
	DigitsFirstTwo = "first_two" // the device's first or second code in 24 hours: 4 digits
	DigitsThirdOn  = "third_on"  // its third or later: 6
	DigitsBackoff  = "backoff"   // the address is in back-off after wrong tries: 6
	DigitsStrict   = "strict"    // the strict profile: always 6
	DigitsStepUp   = "stepup"    // a step-up code: always 6
)

// codeKinds are the facts that put a code in someone's inbox.
var codeKinds = []string{KindCodeEmailed, KindCodeTexted}

// linkKinds are the facts that put a magic link in someone's inbox.
var linkKinds = []string{KindLinkEmailed, KindLinkTexted}

// governedKinds are the messages the governor counts and limits.
var governedKinds = []string{KindCodeEmailed, KindCodeTexted, KindLinkEmailed, KindLinkTexted}

// Bodies. Every field is something a reader of the ledger may see: no
// secret is ever stored in plaintext (codes are MACs, addresses sealed).

type userCreatedBody struct {
	Anonymous bool `json:"anonymous"`
	// Via says how the user came to be: "visit" (first write of an
	// anonymous visitor), "signup", "admin".
	Via string `json:"via"`
}

type userMergedBody struct {
	Into string `json:"into"`
}

type userAbsorbedBody struct {
	From string `json:"from"`
	// Stars that moved (the account did not have them yet).
	Stars []string `json:"stars,omitempty"`
	// VisitorNickname is the merged user's nickname, kept even when the
	// account's own nickname won.
	VisitorNickname string `json:"visitor_nickname,omitempty"`
	// NicknameTaken is true when the account had none and took the
	// visitor's.
	NicknameTaken bool `json:"nickname_taken,omitempty"`
}

type signedInBody struct {
	// Method is how the device proved it may act as the user: "visit"
	// (an anonymous visitor's own device), "code", "ssh" (a remembered
	// key), "device-link", "link" (a magic link), "password".
	Method string `json:"method"`
	// Via is the ticket that carried the proof, if any.
	Via string `json:"via,omitempty"`
}

type signedOutBody struct {
	// Reason is "signout" (the device asked) or "switch" (the device
	// signed in as someone else).
	Reason string `json:"reason"`
}

type nicknameBody struct {
	Nickname string `json:"nickname"`
	// From is set when the nickname came with a merged user.
	From string `json:"from,omitempty"`
	// Split is set when the nickname went with an address that split off
	// (split.go): it had come with the merge that address's sign-in made.
	Split bool `json:"split,omitempty"`
}

type starBody struct {
	Item string `json:"item"`
	From string `json:"from,omitempty"`
	// Split: as nicknameBody's.
	Split bool `json:"split,omitempty"`
}

type addressAddedBody struct {
	Kind string `json:"kind"`
	// Sealed is the address encrypted under the server's sealing key, so
	// that the account can be shown its addresses and notified, while the
	// ledger holds no address in plaintext.
	Sealed string `json:"sealed"`
	// Masked is a redacted form for people reading the ledger.
	Masked string `json:"masked"`
}

type addressConfirmedBody struct {
	// Method is how control was proven: "code", "link", "ssh", "admin".
	Method string `json:"method"`
	Ticket string `json:"ticket,omitempty"`
}

type addressEndedBody struct {
	// Reason: "unlinked", "replaced" (a new claim by the same user),
	// "superseded" (another user confirmed it), "edited", "split" (its
	// owner's account was split), "removed" (an SSH key), "forgotten"
	// (keys forgotten at sign-out everywhere), "abandoned" (a
	// registration whose challenges all expired, cleaned up).
	Reason string `json:"reason"`
}

type noticeBody struct {
	// About is the change: a fact kind such as "address.confirmed".
	About  string `json:"about"`
	Masked string `json:"masked"`
}

type linkRequestedBody struct {
	Expires time.Time `json:"expires"`
}

type linkApprovedBody struct {
	By string `json:"by"` // the approving device
}

type splitChosenBody struct {
	// Choice is "signin" (into the existing account) or "new" (a new
	// account with this address, which leaves the old one).
	Choice string `json:"choice"`
	// Stars and Nickname, for "new": what the device's visitor brought
	// into the account when it signed in, which went with the address.
	Stars    []string `json:"stars,omitempty"`
	Nickname string   `json:"nickname,omitempty"`
}

type codeIssuedBody struct {
	// Purpose is what the code is for: "signin", "confirm", "stepup".
	Purpose string `json:"purpose"`
	Letter  string `json:"letter"`
	Digits  int    `json:"digits"`
	// MAC is HMAC(code key, ticket, code): enough to check a guess, useless
	// to recover the code.
	MAC     string    `json:"mac"`
	Expires time.Time `json:"expires"`
	// Kind, Sealed and Masked describe the address the code went to, as
	// in addressAddedBody: the right code turns them into a claim.
	Kind   string `json:"kind"`
	Sealed string `json:"sealed"`
	Masked string `json:"masked"`
	// Why says what decided the digits (a Digits* value). NextAt is when
	// the governor lets the next message to the address go, NextRule the
	// limit that says so. Facts written before these fields lack them.
	Why      string    `json:"why,omitempty"`
	NextAt   time.Time `json:"next_at,omitzero"`
	NextRule string    `json:"next_rule,omitempty"`
}

// codeTryBody is what code.failed and code.accepted record (facts written
// before it have no body): which code was tried and, for a wrong one, how
// many tries it has left.
type codeTryBody struct {
	Letter string `json:"letter"`
	Left   *int   `json:"left,omitempty"`
}

// messageHeldBody is the governor's refusal, as message.held records it.
type messageHeldBody struct {
	What    string    `json:"what"` // "code" or "link"
	Purpose string    `json:"purpose"`
	Kind    string    `json:"kind"`
	Masked  string    `json:"masked"`
	Next    time.Time `json:"next"`
	Rule    string    `json:"rule"` // a Rule* value
}

// source is what a claim made from this code records about its address.
func (b *codeIssuedBody) source() claimSource {
	return claimSource{Kind: b.Kind, Sealed: b.Sealed, Masked: b.Masked}
}

// source is what a claim made from this link records about its address.
func (b *linkBody) source() claimSource {
	return claimSource{Kind: b.Kind, Sealed: b.Sealed, Masked: b.Masked}
}

type messageFailedBody struct {
	Reason string `json:"reason"`
}

// mustJSON encodes a body. The bodies above cannot fail to encode, so a
// failure is a programming error.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("flows: encode fact body: " + err.Error())
	}
	return b
}
