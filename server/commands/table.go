package commands

import (
	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/cli"
)

// table is every command, in the order `help` lists them. A new command
// is a new row (and its run function); dispatch, flags, --json, --help
// and exit statuses come with the row.
//
// It is filled in init because program refers to it, and commands such as
// `login` to program.
var table []*cli.Command[Env]

func init() {
	table = []*cli.Command[Env]{
		{
			Name: "whoami", Summary: "who this device is: user, account, nickname, stars, addresses, step-up",
			About: "Shows the device (its SSH key's fingerprint), the user it acts as, whether that user is an account\n" +
				"(a confirmed address) or an anonymous visitor, how and since when the device is signed in, and\n" +
				"until when it is stepped up. On a signed-out device whose key is remembered for an account, it\n" +
				"says so: `signin --key` signs in.",
			Bind: cli.NoFlags(runWhoami),
		},
		{
			Name: "facts", Summary: "what the ledger recorded about you, as JSON lines; --explain in plain words",
			About: "Prints every fact about this device and the user it acts as, oldest first, one JSON object per\n" +
				"line (always JSON, with or without --json). With --explain, one line per fact instead: its time,\n" +
				"kind, what happened, what it is about (addresses masked) and why it was written the way it was\n" +
				"(\"code B, 4 digits: this device's second code in 24 h\"), as the screens' ledger panel (L) says.",
			Bind: bindFacts,
		},
		{
			Name: "login", Args: "ADDRESS", MinArgs: 1, MaxArgs: -1, // spacedAddress checks
			Summary: "sign in with ADDRESS and its password (read from standard input), or register",
			About: "One step for both signing in and signing up. The password is read from standard input (its first\n" +
				"line), never from the command line, where it would stay in shell history and logs:\n\n" +
				"  printf '%s\\n' \"$PASSWORD\" | ssh host login grace@example.com\n\n" +
				"An address with an account and its right password signs this device in. Anything else gets one\n" +
				"answer, so that nobody learns whether an address has an account: we send the address a link.\n" +
				"For an address new to attest, the link confirms it and makes the account with that password (at\n" +
				"least 15 characters, and hard to guess); for an address with an account, it signs you in. The\n" +
				"link signs in the session that waits for it, so login waits, up to 5 minutes, until the link's\n" +
				"button is pressed (exit 0) or the link expires (exit 1). With --no-wait it returns at once, and\n" +
				"a sign-in link then finds no waiting session: `resend ADDRESS` sends a new one and waits. A\n" +
				"link that makes a new account works within its 5 minutes even after login has left: the account\n" +
				"is confirmed, and this device is signed in when it next connects.",
			Bind: spacedAddress(bindPasswordLink(runLogin)),
		},
		{
			Name: "resend", Args: "ADDRESS", MinArgs: 1, MaxArgs: -1, // spacedAddress checks
			Summary: "send the link that confirms a new account again, and wait for it (password on standard input)",
			About: "For an account made with `login` whose address is not confirmed yet. It takes the password you\n" +
				"chose, read from standard input, because the link signs in this session:\n\n" +
				"  printf '%s\\n' \"$PASSWORD\" | ssh host resend grace@example.com\n\n" +
				"With any other password, or for any other address, it sends a sign-in link instead, and says\n" +
				"the same. Like login, it waits until the link's button is pressed or the link expires (5\n" +
				"minutes); --no-wait returns at once (a confirmation link still works; a sign-in link then\n" +
				"signs nothing in).",
			Bind: spacedAddress(bindPasswordLink(runResend)),
		},
		{
			Name: "signin", Args: "[ADDRESS]", MaxArgs: -1, // spacedAddress checks
			Summary: "send a sign-in code to ADDRESS (email or phone), or show a wallet's message to sign; --link, --key, --with NAME",
			About: "Sends a code to ADDRESS. Entering it (see `code`) signs this device in, creating the account if\n" +
				"the address has none. The answer is the same whether or not the address has an account.\n" +
				"With --link, sends a link instead of a code and waits: opening the link, typing on its page\n" +
				"the 4 characters printed here (only here: never give them to anyone) and pressing its button\n" +
				"signs this session in; a wrong answer ends the link. The link works once, for 5 minutes, and only while\n" +
				"this command waits for it, so it always waits (and --no-wait is refused).\n" +
				"A connection without an SSH key is a new device each time, so no later command could enter its\n" +
				"code or give its signature: signin ADDRESS is refused there; connect with a key, or use the screens.\n" +
				"With --key instead of ADDRESS, signs in at once with the key this connection uses, if it is\n" +
				"remembered for an account (see `keys remember` and `approve`).\n" +
				"A wallet address (Ethereum 0x..., or SS58) gets no code: this shows a message to sign with the\n" +
				"wallet (EIP-4361 for Ethereum), valid 5 minutes; give the signature with `signature`. With\n" +
				"--json, \"message\" is the exact text to sign.\n" +
				"With --with NAME, signs in with the provider NAME (see `providers`): it prints a URL and a\n" +
				"code to enter there, or a link and the 4 characters its page asks for (only this terminal\n" +
				"shows them: never give them to anyone; a wrong answer on the page ends the sign-in), then\n" +
				"waits and exits 0 once signed in. With --json the first line is that URL and code\n" +
				"(verification_uri, verification_uri_complete, user_code) or the link and its characters\n" +
				"(link, check), printed before it waits.",
			Bind: spacedAddress(bindSignin),
		},
		{
			Name: "providers", Summary: "the sign-in providers (signin --with NAME) and whether each is available",
			Bind: cli.NoFlags(runProviders),
		},
		{
			Name: "code", Args: "CODE", MinArgs: 1, MaxArgs: 2,
			Summary: "enter a code you were sent: code B-4821 (or B 4821, or 4821 for the newest)",
			About: "Enters a code this device asked for: to sign in, to confirm an address, or to step up. The\n" +
				"letter says which code, if it asked for several; without it the newest code is meant. A wrong\n" +
				"code costs one of the code's tries. A sign-in code for an address that is also on an account\n" +
				"with another of its kind asks you to choose: see `split`.",
			Bind: cli.NoFlags(runCode),
		},
		{
			Name: "stepup", Args: "[ADDRESS]", MaxArgs: 1,
			Summary: "send a code that steps this device up for protected changes; or --password, --totp, --wallet, --with NAME",
			About: "Protected changes (adding, confirming, editing or unlinking an address; remembering or\n" +
				"forgetting a key; setting a password; approving a new device; signing out everywhere) need a\n" +
				"step-up on the device that makes them. This sends a 6-digit code to a confirmed address of the\n" +
				"account (another one than you signed in with, when there is one); entering it with `code` steps\n" +
				"this device up for an hour. Other devices are not stepped up.\n" +
				"With an authenticator app on the account, `stepup --totp CODE` steps up at once with its code.\n" +
				"With --password, the account's password steps up at once, read from standard input:\n\n" +
				"  printf '%s\\n' \"$PASSWORD\" | ssh host stepup --password\n\n" +
				"It is a second factor only for a device that signed in some other way than the password.\n" +
				"With --wallet [ADDRESS], a wallet confirmed on the account steps up: sign the message shown\n" +
				"(see `signin`) and give the signature with `signature`.\n" +
				"With --with NAME, a fresh sign-in at the provider NAME, linked to the account, steps up: the\n" +
				"provider is asked to make you sign in again, and says when you did.",
			Bind: bindStepUp,
		},
		totpCommand,
		recoveryCommand,
		{
			Name: "signature", Args: "SIG", MinArgs: 1, MaxArgs: 1,
			Summary: "give a wallet's signature of the message `signin 0x...` (or `address add`, `stepup --wallet`) showed",
			About: "Completes this device's newest wallet challenge: signs in (creating the account if nobody has\n" +
				"the wallet), adds the wallet to your account, or steps this device up, as the challenge was for.\n" +
				"SIG is hex (0x...): for Ethereum a personal_sign signature (65 bytes), for SS58 an sr25519 or\n" +
				"ed25519 signature of the message, as polkadot.js signRaw makes it. A challenge works once, for\n" +
				"5 minutes, on the device that asked for it.",
			Bind: bindSignature,
		},
		{
			Name: "password", Summary: "set or change your account's password",
			Subs: []*cli.Command[Env]{
				{
					Name: "set", Summary: "set or change the password, read from standard input (protected)",
					About: "Reads the new password from standard input (its first line), never from the command line,\n" +
						"where it would stay in shell history and logs:\n\n" +
						"  printf '%s\\n' \"$PASSWORD\" | ssh host password set\n\n" +
						"At least 8 characters (15 when the account has no address to send a code to), and hard to\n" +
						"guess. It is a protected change (see `stepup`); the account's addresses are told. With\n" +
						"--sign-out-others, every other device of the account is signed out.",
					Bind: bindPasswordSet,
				},
			},
		},
		{
			Name: "addresses", Summary: "your account's email addresses and phone numbers, confirmed or not",
			Bind: cli.NoFlags(runAddresses),
		},
		{
			Name: "address", Summary: "add, confirm, edit or unlink an email address or phone number",
			About: "Each sub-command changes how the account signs in, so each needs a step-up on this device\n" +
				"(see `stepup`). Phone numbers start with + and the country code.",
			Subs: []*cli.Command[Env]{
				{
					Name: "add", Args: "ADDRESS", MaxArgs: -1, // spacedAddress checks
					Summary: "add an address to your account and send it a code to confirm it; --with NAME links a provider",
					About: "Adds ADDRESS, unconfirmed, and sends it a code; entering the code (see `code`) confirms it.\n" +
						"An address already confirmed on another account can be added, but not confirmed: that\n" +
						"needs support.\n" +
						"With --with NAME instead, links your account at the sign-in provider NAME: sign in there\n" +
						"(the command says where) and it signs in to this account from then on.",
					Bind: spacedAddress(bindAddressAdd),
				},
				{
					Name: "confirm", Args: "ADDRESS", MinArgs: 1, MaxArgs: -1, // spacedAddress checks
					Summary: "send a fresh code to an unconfirmed address of your account",
					Bind:    spacedAddress(cli.NoFlags(runAddressConfirm)),
				},
				{
					Name: "edit", Args: "OLD NEW", MinArgs: 2, MaxArgs: 2,
					Summary: "replace OLD by NEW, and send NEW a code to confirm it",
					About: "An unconfirmed OLD is replaced by NEW at once. A confirmed OLD stays beside NEW, so the\n" +
						"account cannot lose its way in; unlink it once NEW is confirmed.",
					Bind: cli.NoFlags(runAddressEdit),
				},
				{
					Name: "unlink", Args: "ADDRESS", MaxArgs: -1, // spacedAddress checks
					Summary: "remove an address from your account",
					About: "Removes ADDRESS. The account's only confirmed address cannot be removed. When a confirmed\n" +
						"address goes, the account's other addresses, and the address itself, are told. An address\n" +
						"that is not on the account is not an error: there is nothing left to unlink.\n" +
						"With --with NAME instead, unlinks the sign-in provider NAME, unless it is the only way in.",
					Bind: spacedAddress(bindAddressUnlink),
				},
			},
		},
		{
			Name: "history", Summary: "every change to your account's addresses, keys and authenticator app, oldest first",
			About: "Lists when each address or key was added, confirmed and removed. With --json, one JSON object\n" +
				"per line.",
			Bind: cli.NoFlags(runHistory),
		},
		{
			Name: "keys", Summary: "the SSH keys remembered for your account",
			About: "A remembered key signs its device in with `signin --key`, without a code. `keys remember`\n" +
				"remembers the key of this connection; `approve` remembers a new device's key as it links it.",
			Bind: cli.NoFlags(runKeys),
			Subs: []*cli.Command[Env]{
				{
					Name: "remember", Summary: "remember the key of this connection for your account (protected)",
					Bind: cli.NoFlags(runKeysRemember),
				},
				{
					Name: "remove", Aliases: []string{"forget"}, Args: "FINGERPRINT", MinArgs: 1, MaxArgs: 1,
					Summary: "stop a key from signing in to your account (protected)",
					About: "FINGERPRINT is as `keys` shows it; the SHA256: in front may be left out. Devices signed in\n" +
						"with the key stay signed in; `signout --everywhere` signs them out.",
					Bind: cli.NoFlags(runKeysRemove),
				},
			},
		},
		{
			Name: "link", Summary: "link this new device: show a code to approve on a signed-in one",
			About: "On a device that is not signed in, shows a short code. On a device already signed in to the\n" +
				"account (and stepped up), `approve CODE` remembers this device's key and signs it in. The code\n" +
				"lives a minute. With --wait, waits here until it is approved or expires.",
			Bind: bindLink,
		},
		{
			Name: "approve", Args: "CODE", MinArgs: 1, MaxArgs: 2,
			Summary: "approve a new device's link code, signing it in (protected)",
			Bind:    cli.NoFlags(runApprove),
		},
		{
			Name: "split", Summary: "make the address you signed in with an account of its own",
			About: "A sign-in code signs you in to the account that has the address confirmed. When that account\n" +
				"has another address of the kind, `split new` (on the device that signed in with the address,\n" +
				"at any time after) takes the address out of it into a new account of its own, to which this\n" +
				"device is signed in; the account keeps its other address and is told. `split signin` says\n" +
				"you stay, while the code would still be live.",
			Subs: []*cli.Command[Env]{
				{
					Name: flows.SplitSignIn, Summary: "stay signed in to the account that has the address",
					Bind: cli.NoFlags(runSplit(flows.SplitSignIn)),
				},
				{
					Name: flows.SplitNew, Summary: "start a new account with the address, which leaves the other",
					Bind: cli.NoFlags(runSplit(flows.SplitNew)),
				},
			},
		},
		{
			Name: "sessions", Aliases: []string{"devices"},
			Summary: "the devices signed in to your account",
			Bind:    cli.NoFlags(runSessions),
		},
		{
			Name: "signout", Summary: "sign this device out; --everywhere signs out every device of the account",
			About: "Signs this device out: it starts afresh as an anonymous visitor, and what it saved as an account\n" +
				"stays with the account. With --everywhere, every device signed in to the account is signed out,\n" +
				"this one included, without asking to confirm; it is a protected action (see `stepup`). With\n" +
				"--forget-keys too, every remembered key is forgotten, so no device signs back in without a code.",
			Bind: bindSignout,
		},
		{
			Name: "nickname", Args: "[NAME]", MaxArgs: -1,
			Summary: "show your nickname, or set it to NAME (the rest of the line)",
			About: "Without NAME, prints the current nickname. With it, sets the nickname: 1 to 32 visible\n" +
				"characters; the words of NAME are joined with single spaces.",
			Bind: cli.NoFlags(runNickname),
		},
		{
			Name: "star", Args: "[ITEM]", MaxArgs: 1,
			Summary: "star ITEM; without one, list what can be starred",
			Bind:    cli.NoFlags(runStar),
		},
		{
			Name: "unstar", Args: "ITEM", MinArgs: 1, MaxArgs: 1,
			Summary: "remove the star from ITEM",
			Bind:    cli.NoFlags(runUnstar),
		},
		{
			Name: "stars", Summary: "list what can be starred, with ★ on your stars",
			Bind: cli.NoFlags(runStars),
		},
		{
			Name: "user", Admin: true, Summary: "administrators: make accounts",
			Subs: []*cli.Command[Env]{
				{
					Name: "add", Required: []string{"email"},
					Summary: "make an account for an address, confirmed at once, and welcome it (administrators)",
					About: "For administrators. Makes an account whose address is confirmed by an administrator, with\n" +
						"an optional nickname, and sends the address a welcome message saying how to sign in. The\n" +
						"ledger records which administrator's key made it. An address that already belongs to an\n" +
						"account is refused.",
					Bind: bindUserAdd,
				},
			},
		},
		cli.Help[Env](),
	}
	program.Commands = table
}
