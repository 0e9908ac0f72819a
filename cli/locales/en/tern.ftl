# The CLI's texts in English: the reference catalog. Every other catalog has exactly these
# messages with exactly these variables (a unit test checks it). Keys are grouped by the
# command or screen that prints them. Plain text; no Unicode isolation marks.

## Shared

me = me
lang-unknown = unknown language "{ $tag }"; available: { $known }
page-older = older: { $command }
page-more = more: { $command }
duration-bad = { $text } is not a duration like 8h or 1w
duration-unit = { $text }: the unit is s, m, h, d or w

## Errors (printed as "tern: <message>")

error-wrong-passphrase = wrong passphrase
error-locked = the account in { $dir } is in use by another process; if `tern daemon` is running, it is the one holding it, and commands talk to it automatically
error-no-daemon = no daemon is running for { $dir }; start one with `tern daemon` (see `tern daemon --help`)
error-no-account = no account in { $dir }; create one with `tern init`
error-caused-by = caused by: { $cause }

## Profile and passphrase

profile-no-home = cannot find a home directory: pass --data-dir or set TERN_HOME
profile-passphrase-file = reading the passphrase file { $file }
profile-passphrase-no-terminal = a passphrase is needed and there is no terminal to ask on: use --passphrase-file or TERN_PASSPHRASE
profile-passphrase-prompt = passphrase:
profile-passphrase-again = passphrase again:
profile-passphrases-differ = the two passphrases differ
profile-passphrase-empty = the passphrase is empty; use --insecure-no-passphrase to really have none

## tern init, tern id

init-exists = an account already exists in { $dir }; use another --data-dir for a second one
init-bad-address = { $address } must end in /p2p/<peer id> so the peer can be authenticated
init-created = Created an account in { $dir }
init-next = Next: run `tern daemon`, and share your invite.
id-address = address
id-invite = invite
id-fingerprint = fingerprint

## tern daemon

daemon-not-loopback = --api-addr { $address } is not a loopback address; the local API must not be reachable from other machines
daemon-running = a daemon is already running for { $dir } (API at { $api })
daemon-cannot-listen = cannot listen on { $address }: { $error }
daemon-for = tern daemon for { $address }
daemon-api = local API at { $api } (token in api.token)
daemon-reachable = reachable at { $address }
daemon-stop = Ctrl-C stops it.

## tern contact

contact-added = Added { $name } ({ $address })
contact-added-verify = Compare safety numbers with `tern contact verify { $name }`.
contact-list-empty = No contacts yet: add one with `tern contact add NAME INVITE`.
contact-verified-mark = verified
contact-not-verified-mark = not verified
contact-removed = Removed { $name }
contact-is-verified = { $name } is verified.
contact-is-not-verified = { $name } is not verified.
contact-key-changed-mark = identity key changed
contact-held-mark = messages held: verify again
policy-is = When { $name }'s identity key changes: { $policy }
policy-warn = warn (a notice, the verified mark goes, sending goes on)
policy-block = block (your messages wait until you verify { $name } again)
policy-trust-new = trust-new (a notice only)
policy-held = ⚠ { $name }'s identity key changed: your messages wait until you run `tern contact verify { $name }`.
policy-changed-at = { $name }'s identity key last changed { $time }.
id-key-rotated = New identity key made; your address stays. Contacts see the change with your next message.
verify-no-terminal = no terminal to ask on: pass --yes after comparing the safety numbers, or --clear
verify-safety-number = Safety number with { $name }:
verify-ask = Does { $name } see the same numbers? [y/N]
# The answers that mean yes, separated by |, in lower case ("y" and "yes" always count).
verify-yes = y|yes

## tern send, reply, react, edit, delete, read

send-no-text = no text: give it as an argument or pipe it in
send-stdin = reading standard input: { $error }
send-queued = queued { $id }
react-reacted = reacted ({ $id })
react-removed = removed ({ $id })
edit-edited = edited { $id }
delete-for-me = deleted { $id } for me
delete-for-everyone = deleted { $id } for everyone
read-marked = Marked { $count } message(s) from { $peer } read

## Messages as lists and the chat screen show them

message-deleted = 🚫 message deleted
message-unsupported = ⚠ unsupported message (a newer version of Tern can show it)
message-edited = { $text } (edited)
message-edited-mark = (edited)
message-timer-off = ⏱ disappearing messages turned off
message-timer = ⏱ disappearing messages: { $timer }
message-identity-changed = ⚠ identity key changed: compare safety numbers again
message-identity-held = ⚠ identity key changed: your messages wait until you verify again

## tern search, requests, block, chats

search-nothing = Nothing found for "{ $words }".
requests-accepted = Accepted { $peer }: it is in your chats now
requests-deleted = Deleted the request from { $peer } ({ $count } messages)
requests-none = No message requests.
requests-count = { $count } message(s)
requests-count-dropped = { $count } message(s), { $dropped } dropped
requests-hint = read: tern history ADDRESS · answer: tern requests accept|delete ADDRESS, tern block ADDRESS
block-none = Nobody is blocked.
block-blocked = Blocked { $peer }
block-unblocked = Unblocked { $peer }
chats-muted = muted
chats-unmuted = unmuted
chats-archived = archived
chats-unarchived = unarchived
chats-pinned = pinned
chats-unpinned = unpinned
chats-downloads = files fetched by themselves ({ $rule }) in the chat with
chats-deleted = Deleted the conversation with { $peer } ({ $count } messages)
chats-none = No conversations yet.
chats-unread = ({ $count } unread)

## tern status (labels are padded to line up)

status-address = address
status-device = device
status-peers = peers
status-nat = NAT
status-circuit = circuit
status-punches = punches
status-contact = contact
status-record = record
status-outbox = outbox
status-relays = relays
status-relay = relay
status-listening = listening
status-refused = refused
status-peers-connected = { $count } connected
status-circuit-reserved = reserved at relay { $relay }
status-punches-counts = { $succeeded } succeeded, { $failed } failed
status-contact-via = { $name } via { $path }
status-record-published = published in the DHT (version { $version })
status-record-updating = published in the DHT (version { $version }); a newer one is on its way
status-record-unpublished = not yet published in the DHT (contacts cannot find you yet)
status-outbox-waiting = { $count } waiting
status-relays-none = none (messages wait in the sender's outbox while you are offline)
status-relay-connected = connected
status-relay-not-connected = not connected
status-refused-count = { $count } bad inputs

## tern disappear, tern profile

disappear-on = Messages with { $peer } now disappear { $timer } after they are read
disappear-off = Messages with { $peer } no longer disappear
disappear-bad-timer = { $text }: a timer is 5m, 1h, 1d, 1w or off
timer-off = off
timer-seconds = { $count } s
timer-minutes = { $count ->
    [one] { $count } minute
   *[other] { $count } minutes
}
timer-hours = { $count ->
    [one] { $count } hour
   *[other] { $count } hours
}
timer-days = { $count ->
    [one] { $count } day
   *[other] { $count } days
}
timer-weeks = { $count ->
    [one] { $count } week
   *[other] { $count } weeks
}
profile-set = Profile set: { $profile }; sent to { $count } contacts

## Routes and NAT states, as status lines show them

term-direct = direct
term-circuit = circuit
term-mailbox = mailbox
term-public = public
term-private = private
term-unknown = unknown

## tern chat: the full screen

chat-no-daemon = the daemon is not running
chat-daemon-closed = the daemon closed the connection
chat-unknown-command = unknown command { $command }; try /accept, /block, /unblock, /disappear, /search or /delete
chat-select-first = select a message first with Alt-↑
chat-only-own = only your own messages can be edited or deleted
chat-not-sent = not sent: { $reason }
chat-blocked = blocked
chat-held = key changed: messages wait until `tern contact verify { $name }`
chat-request = message request: /accept /block /delete
chat-verified = verified
chat-not-verified = not verified
chat-empty = No messages yet. Say hello.
chat-keys-reply = reply to { $id } · Enter send · Esc cancel
chat-keys-edit = edit { $id } · Enter save · Esc cancel
chat-keys-selected = Alt-r reply · Alt-e edit · Alt-d delete · Alt-x delete for me · Alt-s save file · Alt-1…5 react · Alt-0 unreact · Esc
chat-keys = message · Enter send · Alt-↑ select · /search /block /delete · Esc quit · PgUp/PgDn scroll
chat-daemon = daemon
chat-daemon-offline = daemon offline, reconnecting
chat-peer-online = { $name } online
chat-peer-offline = { $name } offline
chat-list = Chats
chat-list-find = Find:
chat-peer-typing = { $name } is typing…
chat-peer-last-seen = { $name } last seen { $time }
chat-via = via { $path }
chat-network = relays { $up }/{ $relays } · peers { $peers } · outbox { $outbox }
chat-new-requests = { $count } new message request(s): tern requests

## tern demo: the narration

demo-intro = Tern demo: a relay and two users, each a real node, on 127.0.0.1 in { $dir }
demo-done = Done in { $seconds } s. Removed { $dir }.
demo-next = Next: `tern init` to create your own account, then `tern daemon`.
demo-relay-listening = listening at { $address }
demo-created = created account { $address }
demo-swap = alice and bob swap invites and add each other; their relay is the one above
demo-send-queued = → { $to }: { $text } (queued, safe on disk)
demo-send = → { $to }: { $text }
demo-received = ← { $from }: { $text }
demo-delivered-first = ✓ delivered (bob's node has it on disk)
demo-delivered = ✓ delivered
demo-offline = goes offline
demo-stored = ⇡ bob is unreachable: each message is now stored at his relay (custody receipts in)
demo-relay-holds = holds { $count } sealed envelope(s), { $bytes } bytes: no text and no sender visible to it
demo-relay-streams = took them on { $count ->
    [one] one deposit stream
   *[other] { $count } deposit streams
}, pipelined: no new stream or protocol negotiation per message
demo-back = comes back online and collects his mailbox
demo-received-all = received { $count } of { $count }, each exactly once, in order
demo-delivered-times = ✓ delivered ×{ $count }
demo-reads = reads the conversation ({ $count } messages)
demo-read-times = ✓✓ read ×{ $count }
demo-relay-emptied = holds { $count } envelope(s): bob acknowledged them and the relay deleted its copies
demo-relay-collected = bob collected them on one stream: his ownership proven once, each acknowledgement riding on his next request
demo-stranger = a stranger, created account { $address }
demo-request = ← a message request ({ $count } in all): not in his chats, and mallory gets no receipt
demo-blocks = blocks mallory: the request is deleted
demo-refused = ✗ { $text } refused: bob blocked this account
demo-reply = ↪ replies to { $original }: { $text }
demo-reply-seen = ← bob's reply, quoting her message
demo-react = reacts { $emoji } to bob's reply
demo-react-seen = sees alice's { $emoji } under his reply
demo-edit = edits her message to { $text }
demo-edit-seen = sees { $text } (edited); { $count } versions kept
demo-delete = deletes { $text } for everyone
demo-tombstone = sees a tombstone: the text is erased from his database and event log
demo-text-status = out for lunch
demo-profile = shares a profile with her contacts only: { $name }
demo-profile-seen = sees alice's profile, { $name }, and keeps the name he gave her first
demo-timer = turns on disappearing messages: 1 hour after reading
demo-text-secret = the door code is 4711
demo-timer-seen = gets { $text }, which his node erases an hour after he reads it
demo-policy = sets her policy for Bob's identity key to block: if it changes, her messages wait until she checks him again
demo-rotate = replaces his identity key; his address stays
demo-rotate-seen = sees "identity key changed" in the chat, and his message; hers to him now wait
demo-reverify = writes to Bob, then compares safety numbers again and marks him verified
demo-released = gets the message that waited for Alice's check

# What alice, bob and mallory write to each other in the demo.
demo-text-hello = Hi Bob! Trying out Tern.
demo-text-answer = Hi Alice, loud and clear.
demo-text-there = Are you still there?
demo-text-meeting = The meeting moved to 3 pm.
demo-text-slides = Bring the slides, please.
demo-text-works = 3 works for me.
demo-text-meeting-edited = The meeting moved to 4 pm.
demo-text-prize = You won a prize! Reply to claim it.
demo-text-last = Last chance!
demo-text-new-key = New key, same me.
demo-text-checked = Checked: it is really you.

## tern share

share-on = on
share-off = off
share-typing = typing indicators: { $state }
share-presence = presence (online, last seen): { $state }

# Files
send-file-unreadable = cannot read the file: { $error }
file-ready = here
file-offered = not downloaded
file-fetching = downloading
file-failed = failed
attachments-none = No files yet.
save-exists = { $path } exists; give another path
save-done = Saved { $path } ({ $size })
save-bad-id = "{ $id }" is not a message id (at least 4 hex digits, as `tern attachments` shows)
save-no-file = no file in a message { $id }
save-ambiguous = "{ $id }" matches several files; give more digits
save-needs-daemon = the file is not here yet: start `tern daemon` to fetch it
save-stream-ended = the daemon stopped while the file was being fetched
save-failed = the file could not be fetched: { $reason }
chat-file-fetching = fetching { $name }; press Alt-s again once it is here
chat-file-saved = saved { $path }
chat-group-keys = message · Enter send · /reply /react /edit /delete /delete-for-me /file /save · /add /remove /rename /admin /demote /relays /leave /members /search · Ctrl-N/P next chat · Esc quit · PgUp/PgDn scroll
chat-no-other-chat = no other chat to switch to
chat-group-empty = No messages yet. Say hello to the group.
chat-group-members = Members
chat-group-member-list = members: { $members }
chat-group-admin = admin
chat-group-created = you created #{ $name }
chat-group-joined = { $by } added you to #{ $name }
chat-group-added = { $by } added { $members }
chat-group-removed = { $by } removed { $members }
chat-group-left = { $member } left
chat-group-renamed = { $by } renamed the group to #{ $name }
chat-group-timer = ⏱ { $by } set disappearing messages to { $timer }
chat-group-timer-off = ⏱ { $by } turned disappearing messages off
chat-group-log-moved = { $by } moved the group's messages to { $relays }
chat-group-promoted = { $by } made { $member } an admin
chat-group-demoted = { $by } made { $member } a member again
chat-group-ended = you are no longer in this group
chat-search-none = 🔍 “{ $query }”: nothing in this chat
chat-search-found = 🔍 “{ $query }”: { $count } found, highlighted (Esc clears)
chat-search-older = 🔍 “{ $query }”: { $count } found, none on this screen; the newest, { $time }: { $text }
chat-search-usage = /search needs the words to find
chat-group-failing-over = ⚠ its relays are unreachable: moving its log
chat-group-unreachable = ⚠ its relays do not answer
chat-group-waiting = adding { $member } waits for their key package; they join once their node answers
chat-group-behind = you were away longer than the group's relays keep messages: what was sent meanwhile is lost to this device. Asked { $admins } to add you back
chat-group-missed = you were away longer than the group's relays keep messages: up to { $count } messages, receipts and changes sent meanwhile are lost to this device
chat-group-behind-alone = you were away longer than the group's relays keep messages: what was sent meanwhile is lost to this device. No admin is among your contacts: ask one to remove you and add you again
chat-group-added-back = { $by } added back { $members } (away longer than the relays keep messages)
chat-group-not-member = not a member any more: nothing can be sent
chat-group-unknown-command = unknown command { $command }; try /reply, /react, /edit, /delete, /delete-for-me, /file, /save, /add, /remove, /rename, /admin, /demote, /relays, /disappear, /search, /leave or /members
chat-group-needs-name = { $command } needs a name after it
chat-group-needs-text = { $command } needs a text after it
chat-group-no-target = no message to aim that at yet
chat-group-needs-path = { $command } needs a file after it
chat-group-no-file = no file in this group to save
chat-group-file-fetching = fetching { $name }; type /save again once it is here
chat-group-asked = { $command }: sent to the group's log; it shows here once the group has taken it
demo-text-photo = the view from the office
demo-file = sends { $name } ({ $size }): encrypted on her device under a fresh key; the message carries its root and key
demo-file-preview = shows a blurred preview of { $name } from the message while the photo is fetched
demo-file-seen = fetched { $name } from alice's device, every 16 KiB checked against its root before it was written ({ $size })
demo-text-slides-file = the slides, for tomorrow
demo-file-offline = sends { $name } ({ $size }) while bob is away: a copy goes to his relay with the message
demo-relay-holds-file = holds { $count } encrypted file(s), { $bytes } bytes: no name, no key, no sender
demo-file-from-relay = fetched { $name } ({ $size }), every 16 KiB checked against its root; it came from { $source }
demo-source-relay = his relay (alice's device offered it too)
demo-source-device = alice's device (his relay held a copy too)

## Groups
group-created = Created #{ $name }
group-adding = Adding to #{ $name }: each joins once the group's log has taken the change (`tern group info` shows who is in)
group-removing = Removing { $member } from #{ $name }
group-leaving = Leaving { $group }: an admin's node completes it (if you are the last admin, the longest-standing member's, who becomes admin)
group-renaming = Renaming the group
group-moving-log = Moving the group's messages to { $count ->
    [one] one relay
   *[other] { $count } relays
}; the members follow once the change is decided.
group-relays = Relays: { $relays }
group-failing-over = ⚠ nobody could reach these relays: the group's log is moving to others (settling the moves admins made)
group-unreachable = ⚠ none of these relays has answered since { $since }: after the failover delay, an admin's node moves the group's log
chat-group-needs-relay = { $command } needs relay addresses after it (…/p2p/PEER)
group-admin-changing = Changing { $member }'s role
group-none = No groups yet: `tern group create NAME CONTACT…` makes one.
group-member-count = { $count ->
    [one] 1 member
   *[other] { $count } members
}
group-you = you
group-admin = (admin)
group-left-mark = (left)
group-inactive = You are no longer in this group.
group-keys-renewed = Your keys in it were last renewed { $time } (weekly, for post-compromise security).
group-keys-not-renewed = Your keys in it are renewed within a day of joining, then weekly.
group-held = { $count } of your messages wait for a member's leave to be committed; they go out as soon as it is.
group-timer = ⏱ messages disappear { $timer } after they are read
demo-group-name = family
demo-group-created = creates the group #{ $name } and adds bob and carol: an MLS group whose log her relay keeps
demo-group-joined = joined #{ $name } from the Welcome alice sent over their 1:1 session
demo-text-group = Dinner on Sunday?
demo-text-group-after = Carol cannot read this.
demo-group-sent = → #{ $name } { $text }: one upload to the group's log
demo-group-received = ← #{ $name } { $text }
demo-group-delivered = sees ✓{ $delivered }/{ $members }: delivered to { $delivered } of { $members } members, each acknowledging through the log
demo-text-group-photo = the beach, at last
demo-group-search = searches her history for { $text }: found in #{ $name }, by an index that lives in memory only
demo-group-file = → #{ $name } { $file } ({ $size }): encrypted once and uploaded once, to the group's relay, whatever the group's size
demo-group-file-seen = fetched { $file } from the group's relay, every 16 KiB checked against its root
demo-group-removes = removes carol: a commit, and the group moves to new keys
demo-group-ended = is out of the group: her keys open nothing sent from now on
demo-group-notice = his history keeps "alice removed carol" where it happened, for whenever he opens the chat
demo-group-sealed = has nothing after her removal: the log does not even hand it to her
demo-group-moves = moves the group's messages to a second relay, { $address }: a commit, decided by the first
demo-group-moved = follows: reads and writes the group at the second relay from that commit on
demo-text-group-moved = Now kept by the second relay.
demo-group-timer = turns on disappearing messages in #{ $name } for everyone: 1 day after reading
demo-text-group-timer = See you at the station.
demo-group-timer-seen = gets { $text }, which her node erases a day after she reads it; bob's erases his copy a day after he sent it
demo-group-relay-down = the second relay goes down: nobody can reach #{ $name }'s log
demo-group-failover = her node, an admin's, moved the group's log to her own relay after { $secs } s without an answer (an hour outside the demo)
demo-group-failover-followed = follows the same move, and reads on there
demo-text-group-failover = Still here, on another relay.
