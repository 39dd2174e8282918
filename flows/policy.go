package flows

import (
	"errors"
	"fmt"
	"time"
)

// Policy holds every number the flows enforce. Zero fields take the
// defaults of DefaultPolicy, which follow the design notes, NIST SP 800-63B
// and OWASP ASVS (see shared/reference/security.md).
type Policy struct {
	// Strict makes every code 6 digits (NIST SP 800-63B), dropping the
	// notes' friendlier 4-digit first codes.
	Strict bool

	CodeTTL time.Duration // how long a code can be entered (10 min)
	Tries4  int           // wrong tries a 4-digit code survives (3)
	Tries6  int           // wrong tries a 6-digit code survives (5)

	// After BackoffAfter consecutive wrong codes for one address, entering
	// codes for it waits BackoffStart, doubling per further failure up to
	// BackoffMax. Only a right code clears the count.
	BackoffAfter int           // 10
	BackoffStart time.Duration // 30 s
	BackoffMax   time.Duration // 1 h

	Governor Governor

	// StepUpTTL is how long a step-up lasts on its device (1 h).
	StepUpTTL time.Duration
	// AddressesPerDay caps the addresses one user adds in a day (5), the
	// notes' "restrict user adding more than 5 phones in a day".
	AddressesPerDay int
	// DeviceLinkTTL is how long a device-link code can be approved (1 min).
	DeviceLinkTTL time.Duration

	// A device signed in to an account is signed out once it has not been
	// used for SessionIdle (30 days: NIST SP 800-63B's reauthentication
	// at AAL1), and SessionMax (365 days) after it signed in however much
	// it is used. See sessions.go.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// PasswordTries limits how often one device, and one source network,
	// may hand the server a password to judge or hash.
	PasswordTries PasswordTries

	// DefaultRegion is the region phone numbers without a country code
	// are read in (ISO 3166 code such as "US"); empty requires a +.
	DefaultRegion string
}

// Governor limits how often the system messages anyone. A zero count
// means the default; a negative count means no limit (for benchmarks and
// private deployments).
type Governor struct {
	AddressGap     time.Duration // at most one message per gap to one address (60 s)
	AddressPerHour int           // (5)
	AddressPerDay  int           // (10)
	DevicePerHour  int           // messages one device may cause (10)
	// SourcePerHour is how many messages requests from one source network
	// (an IPv4 address, an IPv6 /64) may cause in an hour (30). Every
	// connection without a key, and every fresh key, is a new device, so
	// without it one machine could spend the whole server's caps below.
	SourcePerHour int
	EmailPerHour  int // all emails, the whole server (1000)
	SMSPerHour    int // all SMS, the whole server (200): each costs money
}

// PasswordTries bounds the password work (the strength estimate, one
// argon2id hash) that one device and one source network can ask for:
// Burst requests at once, then one per Every. They are counted before any
// work and before anything about the address is looked up, so the answer
// tells nothing about accounts. A negative burst means no limit (for
// benchmarks). The per-address back-off (Policy.Backoff*) is a separate
// limit on guessing one account's password; these bound CPU.
type PasswordTries struct {
	DeviceBurst int           // (10)
	DeviceEvery time.Duration // (6 s: 10 a minute)
	SourceBurst int           // (30)
	SourceEvery time.Duration // (2 s: 30 a minute)
}

// DefaultPolicy is the policy when none is configured.
var DefaultPolicy = Policy{
	CodeTTL:         10 * time.Minute,
	Tries4:          3,
	Tries6:          5,
	BackoffAfter:    10,
	BackoffStart:    30 * time.Second,
	BackoffMax:      time.Hour,
	StepUpTTL:       time.Hour,
	AddressesPerDay: 5,
	DeviceLinkTTL:   time.Minute,
	SessionIdle:     30 * 24 * time.Hour,
	SessionMax:      365 * 24 * time.Hour,
	PasswordTries: PasswordTries{
		DeviceBurst: 10,
		DeviceEvery: 6 * time.Second,
		SourceBurst: 30,
		SourceEvery: 2 * time.Second,
	},
	Governor: Governor{
		AddressGap:     time.Minute,
		AddressPerHour: 5,
		AddressPerDay:  10,
		DevicePerHour:  10,
		SourcePerHour:  30,
		EmailPerHour:   1000,
		SMSPerHour:     200,
	},
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy
	dur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	num := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	dur(&p.CodeTTL, d.CodeTTL)
	num(&p.Tries4, d.Tries4)
	num(&p.Tries6, d.Tries6)
	num(&p.BackoffAfter, d.BackoffAfter)
	dur(&p.BackoffStart, d.BackoffStart)
	dur(&p.BackoffMax, d.BackoffMax)
	dur(&p.StepUpTTL, d.StepUpTTL)
	num(&p.AddressesPerDay, d.AddressesPerDay)
	dur(&p.DeviceLinkTTL, d.DeviceLinkTTL)
	dur(&p.SessionIdle, d.SessionIdle)
	dur(&p.SessionMax, d.SessionMax)
	pt, dpt := &p.PasswordTries, d.PasswordTries
	num(&pt.DeviceBurst, dpt.DeviceBurst)
	dur(&pt.DeviceEvery, dpt.DeviceEvery)
	num(&pt.SourceBurst, dpt.SourceBurst)
	dur(&pt.SourceEvery, dpt.SourceEvery)
	g, dg := &p.Governor, d.Governor
	dur(&g.AddressGap, dg.AddressGap)
	num(&g.AddressPerHour, dg.AddressPerHour)
	num(&g.AddressPerDay, dg.AddressPerDay)
	num(&g.DevicePerHour, dg.DevicePerHour)
	num(&g.SourcePerHour, dg.SourcePerHour)
	num(&g.EmailPerHour, dg.EmailPerHour)
	num(&g.SMSPerHour, dg.SMSPerHour)
	return p
}

// Validate refuses policies weaker than the security minimums the project
// holds itself to.
func (p Policy) Validate() error {
	var errs []error
	if p.CodeTTL > 10*time.Minute {
		errs = append(errs, fmt.Errorf("codes may live at most 10 minutes, not %s", p.CodeTTL))
	}
	if p.Tries4 > 3 {
		errs = append(errs, fmt.Errorf("a 4-digit code may survive at most 3 wrong tries, not %d", p.Tries4))
	}
	if p.Tries6 > 5 {
		errs = append(errs, fmt.Errorf("a 6-digit code may survive at most 5 wrong tries, not %d", p.Tries6))
	}
	if p.BackoffAfter > 10 {
		errs = append(errs, fmt.Errorf("back-off must start after at most 10 failures, not %d", p.BackoffAfter))
	}
	if p.BackoffStart < 30*time.Second || p.BackoffMax < p.BackoffStart {
		errs = append(errs, fmt.Errorf("back-off must start at 30s or more and not shrink (%s to %s)", p.BackoffStart, p.BackoffMax))
	}
	if p.StepUpTTL > time.Hour {
		errs = append(errs, fmt.Errorf("a step-up may last at most an hour, not %s", p.StepUpTTL))
	}
	if p.DeviceLinkTTL > 5*time.Minute {
		errs = append(errs, fmt.Errorf("a device-link code may live at most 5 minutes, not %s", p.DeviceLinkTTL))
	}
	// Use is recorded once a day (see sessions.go), so a shorter idle time
	// could not be told from no use at all.
	if p.SessionIdle != 0 && (p.SessionIdle < 24*time.Hour || p.SessionIdle > DefaultPolicy.SessionIdle) {
		errs = append(errs, fmt.Errorf("a device may stay signed in unused for 1 to 30 days (24h to 720h), not %s", p.SessionIdle))
	}
	if p.SessionMax < 0 || p.SessionMax > DefaultPolicy.SessionMax {
		errs = append(errs, fmt.Errorf("a sign-in may last at most 365 days (8760h), not %s", p.SessionMax))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return nil
}
