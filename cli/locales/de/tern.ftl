# Die Texte der CLI auf Deutsch. Dieselben Nachrichten mit denselben Variablen wie der
# englische Katalog (ein Unit-Test prüft das). Anrede: du, wie in verbreiteten Messengern.

## Allgemein

me = ich
lang-unknown = unbekannte Sprache „{ $tag }“; verfügbar: { $known }
page-older = ältere: { $command }
page-more = weitere: { $command }
duration-bad = { $text } ist keine Dauer wie 8h oder 1w
duration-unit = { $text }: die Einheit ist s, m, h, d oder w

## Fehler (ausgegeben als „tern: <Meldung>“)

error-wrong-passphrase = falsche Passphrase
error-locked = das Konto in { $dir } wird von einem anderen Prozess benutzt; läuft `tern daemon`, dann hält er es, und die Befehle sprechen von selbst mit ihm
error-no-daemon = für { $dir } läuft kein Daemon; starte einen mit `tern daemon` (siehe `tern daemon --help`)
error-no-account = kein Konto in { $dir }; lege eines mit `tern init` an
error-caused-by = verursacht durch: { $cause }

## Profil und Passphrase

profile-no-home = kein Home-Verzeichnis gefunden: gib --data-dir an oder setze TERN_HOME
profile-passphrase-file = beim Lesen der Passphrase-Datei { $file }
profile-passphrase-no-terminal = eine Passphrase wird gebraucht, aber es gibt kein Terminal, um danach zu fragen: nimm --passphrase-file oder TERN_PASSPHRASE
profile-passphrase-prompt = Passphrase:
profile-passphrase-again = Passphrase wiederholen:
profile-passphrases-differ = die beiden Passphrasen sind verschieden
profile-passphrase-empty = die Passphrase ist leer; mit --insecure-no-passphrase gibt es wirklich keine

## tern init, tern id

init-exists = in { $dir } gibt es schon ein Konto; nimm für ein zweites ein anderes --data-dir
init-bad-address = { $address } muss auf /p2p/<Peer-ID> enden, damit der Peer authentifiziert werden kann
init-created = Konto in { $dir } angelegt
init-next = Weiter: starte `tern daemon` und teile deine Einladung.
id-address = Adresse
id-invite = Einladung
id-fingerprint = Fingerabdruck

## tern daemon

daemon-not-loopback = --api-addr { $address } ist keine Loopback-Adresse; die lokale API darf von anderen Rechnern aus nicht erreichbar sein
daemon-running = für { $dir } läuft schon ein Daemon (API unter { $api })
daemon-cannot-listen = kann nicht auf { $address } lauschen: { $error }
daemon-for = tern-Daemon für { $address }
daemon-api = lokale API unter { $api } (Token in api.token)
daemon-reachable = erreichbar unter { $address }
daemon-stop = Strg-C beendet ihn.

## tern contact

contact-added = { $name } hinzugefügt ({ $address })
contact-added-verify = Vergleicht eure Sicherheitsnummern mit `tern contact verify { $name }`.
contact-list-empty = Noch keine Kontakte: füge einen mit `tern contact add NAME EINLADUNG` hinzu.
contact-verified-mark = verifiziert
contact-not-verified-mark = nicht verifiziert
contact-removed = { $name } entfernt
contact-is-verified = { $name } ist verifiziert.
contact-is-not-verified = { $name } ist nicht verifiziert.
contact-key-changed-mark = Identitätsschlüssel geändert
contact-held-mark = Nachrichten angehalten: erneut verifizieren
policy-is = Wenn sich der Identitätsschlüssel von { $name } ändert: { $policy }
policy-warn = warn (ein Hinweis, die Markierung „verifiziert“ fällt weg, Senden geht weiter)
policy-block = block (deine Nachrichten warten, bis du { $name } erneut verifizierst)
policy-trust-new = trust-new (nur ein Hinweis)
policy-held = ⚠ Der Identitätsschlüssel von { $name } hat sich geändert: deine Nachrichten warten, bis du `tern contact verify { $name }` ausführst.
policy-changed-at = Der Identitätsschlüssel von { $name } hat sich zuletzt am { $time } geändert.
id-key-rotated = Neuer Identitätsschlüssel erzeugt; deine Adresse bleibt. Kontakte sehen die Änderung mit deiner nächsten Nachricht.
verify-no-terminal = kein Terminal zum Fragen: gib --yes an, nachdem ihr die Sicherheitsnummern verglichen habt, oder --clear
verify-safety-number = Sicherheitsnummer mit { $name }:
verify-ask = Sieht { $name } dieselben Zahlen? [j/N]
# Die Antworten, die ja bedeuten, durch | getrennt, kleingeschrieben („y“ und „yes“ gelten immer).
verify-yes = j|ja

## tern send, reply, react, edit, delete, read

send-no-text = kein Text: gib ihn als Argument an oder leite ihn über eine Pipe ein
send-stdin = beim Lesen der Standardeingabe: { $error }
send-queued = eingereiht { $id }
react-reacted = reagiert ({ $id })
react-removed = Reaktion entfernt ({ $id })
edit-edited = bearbeitet { $id }
delete-for-me = { $id } für mich gelöscht
delete-for-everyone = { $id } für alle gelöscht
read-marked = { $count ->
    [one] { $count } Nachricht
   *[other] { $count } Nachrichten
} von { $peer } als gelesen markiert

## Nachrichten, wie Listen und der Chat-Bildschirm sie zeigen

message-deleted = 🚫 Nachricht gelöscht
message-unsupported = ⚠ nicht unterstützte Nachricht (eine neuere Version von Tern kann sie zeigen)
message-edited = { $text } (bearbeitet)
message-edited-mark = (bearbeitet)
message-timer-off = ⏱ verschwindende Nachrichten ausgeschaltet
message-timer = ⏱ verschwindende Nachrichten: { $timer }
message-identity-changed = ⚠ Identitätsschlüssel geändert: Sicherheitsnummern erneut vergleichen
message-identity-held = ⚠ Identitätsschlüssel geändert: deine Nachrichten warten, bis du erneut verifizierst

## tern search, requests, block, chats

search-nothing = Nichts gefunden für „{ $words }“.
requests-accepted = { $peer } angenommen: steht jetzt in deinen Chats
requests-deleted = Anfrage von { $peer } gelöscht ({ $count ->
    [one] { $count } Nachricht
   *[other] { $count } Nachrichten
})
requests-none = Keine Nachrichtenanfragen.
requests-count = { $count ->
    [one] { $count } Nachricht
   *[other] { $count } Nachrichten
}
requests-count-dropped = { $count ->
    [one] { $count } Nachricht
   *[other] { $count } Nachrichten
}, { $dropped } verworfen
requests-hint = lesen: tern history ADRESSE · antworten: tern requests accept|delete ADRESSE, tern block ADRESSE
block-none = Niemand ist blockiert.
block-blocked = { $peer } blockiert
block-unblocked = { $peer } nicht mehr blockiert
chats-muted = stummgeschaltet
chats-unmuted = Stummschaltung aufgehoben
chats-archived = archiviert
chats-unarchived = aus dem Archiv geholt
chats-pinned = angeheftet
chats-unpinned = losgelöst
chats-downloads = Dateien, die von selbst geladen werden ({ $rule }), im Chat mit
chats-deleted = Unterhaltung mit { $peer } gelöscht ({ $count ->
    [one] { $count } Nachricht
   *[other] { $count } Nachrichten
})
chats-none = Noch keine Unterhaltungen.
chats-unread = ({ $count } ungelesen)

## tern status (die Beschriftungen werden bündig aufgefüllt)

status-address = Adresse
status-device = Gerät
status-peers = Peers
status-nat = NAT
status-circuit = Circuit
status-punches = Hole-Punching
status-contact = Kontakt
status-record = Eintrag
status-outbox = Ausgang
status-relays = Relays
status-relay = Relay
status-listening = lauscht
status-refused = abgewiesen
status-peers-connected = { $count } verbunden
status-circuit-reserved = reserviert bei Relay { $relay }
status-punches-counts = { $succeeded } gelungen, { $failed } fehlgeschlagen
status-contact-via = { $name } über { $path }
status-record-published = in der DHT veröffentlicht (Version { $version })
status-record-updating = in der DHT veröffentlicht (Version { $version }); eine neuere ist unterwegs
status-record-unpublished = noch nicht in der DHT veröffentlicht (Kontakte finden dich noch nicht)
status-outbox-waiting = { $count } wartend
status-relays-none = keine (Nachrichten warten im Ausgang des Absenders, solange du offline bist)
status-relay-connected = verbunden
status-relay-not-connected = nicht verbunden
status-refused-count = { $count } fehlerhafte Eingaben

## tern disappear, tern profile

disappear-on = Nachrichten mit { $peer } verschwinden jetzt { $timer } nach dem Lesen
disappear-off = Nachrichten mit { $peer } verschwinden nicht mehr
disappear-bad-timer = { $text }: ein Timer ist 5m, 1h, 1d, 1w oder off
timer-off = aus
timer-seconds = { $count } s
timer-minutes = { $count ->
    [one] { $count } Minute
   *[other] { $count } Minuten
}
timer-hours = { $count ->
    [one] { $count } Stunde
   *[other] { $count } Stunden
}
timer-days = { $count ->
    [one] { $count } Tag
   *[other] { $count } Tage
}
timer-weeks = { $count ->
    [one] { $count } Woche
   *[other] { $count } Wochen
}
profile-set = Profil gesetzt: { $profile }; an { $count ->
    [one] { $count } Kontakt
   *[other] { $count } Kontakte
} gesendet

## Wege und NAT-Zustände, wie Statuszeilen sie zeigen

term-direct = direkt
term-circuit = Relay-Circuit
term-mailbox = Postfach
term-public = öffentlich
term-private = privat
term-unknown = unbekannt

## tern chat: der Vollbild-Chat

chat-no-daemon = der Daemon läuft nicht
chat-daemon-closed = der Daemon hat die Verbindung geschlossen
chat-unknown-command = unbekannter Befehl { $command }; versuche /accept, /block, /unblock, /disappear, /search oder /delete
chat-select-first = wähle zuerst mit Alt-↑ eine Nachricht aus
chat-only-own = nur eigene Nachrichten lassen sich bearbeiten oder löschen
chat-not-sent = nicht gesendet: { $reason }
chat-blocked = blockiert
chat-held = Schlüssel geändert: Nachrichten warten bis `tern contact verify { $name }`
chat-request = Nachrichtenanfrage: /accept /block /delete
chat-verified = verifiziert
chat-not-verified = nicht verifiziert
chat-empty = Noch keine Nachrichten. Sag hallo.
chat-keys-reply = Antwort auf { $id } · Enter senden · Esc abbrechen
chat-keys-edit = { $id } bearbeiten · Enter speichern · Esc abbrechen
chat-keys-selected = Alt-r antworten · Alt-e bearbeiten · Alt-d löschen · Alt-x für mich löschen · Alt-s Datei speichern · Alt-1…5 reagieren · Alt-0 Reaktion weg · Esc
chat-keys = Nachricht · Enter senden · Alt-↑ auswählen · /search /block /delete · Esc beenden · Bild↑/Bild↓ blättern
chat-daemon = Daemon
chat-daemon-offline = Daemon offline, verbinde neu
chat-peer-online = { $name } online
chat-peer-offline = { $name } offline
chat-list = Chats
chat-list-find = Suchen:
chat-peer-typing = { $name } tippt…
chat-peer-last-seen = { $name } zuletzt gesehen { $time }
chat-via = über { $path }
chat-network = Relays { $up }/{ $relays } · Peers { $peers } · Ausgang { $outbox }
chat-new-requests = { $count ->
    [one] { $count } neue Nachrichtenanfrage
   *[other] { $count } neue Nachrichtenanfragen
}: tern requests

## tern demo: die Erzählung

demo-intro = Tern-Demo: ein Relay und zwei Nutzer, jeder ein echter Knoten, auf 127.0.0.1 in { $dir }
demo-done = Fertig in { $seconds } s. { $dir } entfernt.
demo-next = Weiter: `tern init` legt dein eigenes Konto an, danach `tern daemon`.
demo-relay-listening = lauscht auf { $address }
demo-created = hat das Konto { $address } angelegt
demo-swap = alice und bob tauschen Einladungen und fügen einander hinzu; ihr Relay ist das obige
demo-send-queued = → { $to }: { $text } (eingereiht, sicher auf der Platte)
demo-send = → { $to }: { $text }
demo-received = ← { $from }: { $text }
demo-delivered-first = ✓ zugestellt (bobs Knoten hat sie auf der Platte)
demo-delivered = ✓ zugestellt
demo-offline = geht offline
demo-stored = ⇡ bob ist nicht erreichbar: jede Nachricht liegt jetzt bei seinem Relay (Verwahrungsbestätigungen da)
demo-relay-holds = hält { $count ->
    [one] { $count } versiegelten Umschlag
   *[other] { $count } versiegelte Umschläge
}, { $bytes } Bytes: es sieht weder Text noch Absender
demo-relay-streams = nahm sie über { $count ->
    [one] einen Einlieferungs-Stream
   *[other] { $count } Einlieferungs-Streams
} entgegen, hintereinander: kein neuer Stream und keine Protokollaushandlung je Nachricht
demo-back = ist wieder online und holt sein Postfach ab
demo-received-all = { $count } von { $count } empfangen, jede genau einmal, in Reihenfolge
demo-delivered-times = ✓ zugestellt ×{ $count }
demo-reads = liest die Unterhaltung ({ $count ->
    [one] { $count } Nachricht
   *[other] { $count } Nachrichten
})
demo-read-times = ✓✓ gelesen ×{ $count }
demo-relay-emptied = hält { $count ->
    [one] { $count } Umschlag
   *[other] { $count } Umschläge
}: bob hat sie bestätigt, und das Relay hat seine Kopien gelöscht
demo-relay-collected = bob hat sie über einen Stream abgeholt: Besitz einmal nachgewiesen, jede Bestätigung mit seiner nächsten Anfrage
demo-stranger = eine Fremde, hat das Konto { $address } angelegt
demo-request = ← eine Nachrichtenanfrage ({ $count } insgesamt): nicht in seinen Chats, und mallory bekommt keine Bestätigung
demo-blocks = blockiert mallory: die Anfrage ist gelöscht
demo-refused = ✗ { $text } abgewiesen: bob hat dieses Konto blockiert
demo-reply = ↪ antwortet auf { $original }: { $text }
demo-reply-seen = ← bobs Antwort, die ihre Nachricht zitiert
demo-react = reagiert mit { $emoji } auf bobs Antwort
demo-react-seen = sieht alices { $emoji } unter seiner Antwort
demo-edit = ändert ihre Nachricht zu { $text }
demo-edit-seen = sieht { $text } (bearbeitet); { $count } Versionen aufbewahrt
demo-delete = löscht { $text } für alle
demo-tombstone = sieht einen Grabstein: der Text ist aus seiner Datenbank und seinem Ereignisprotokoll gelöscht
demo-text-status = in der Mittagspause
demo-profile = teilt ein Profil nur mit ihren Kontakten: { $name }
demo-profile-seen = sieht alices Profil, { $name }, und behält zuerst den Namen, den er ihr gab
demo-timer = schaltet verschwindende Nachrichten ein: 1 Stunde nach dem Lesen
demo-text-secret = der Türcode ist 4711
demo-timer-seen = bekommt { $text }, das sein Knoten eine Stunde nach dem Lesen löscht
demo-policy = setzt ihre Regel für Bobs Identitätsschlüssel auf block: ändert er sich, warten ihre Nachrichten, bis sie ihn erneut prüft
demo-rotate = ersetzt seinen Identitätsschlüssel; seine Adresse bleibt
demo-rotate-seen = sieht „Identitätsschlüssel geändert“ im Chat und seine Nachricht; ihre an ihn warten jetzt
demo-reverify = schreibt Bob, vergleicht dann erneut die Sicherheitsnummern und markiert ihn als verifiziert
demo-released = bekommt die Nachricht, die auf Alices Prüfung gewartet hat

# Was alice, bob und mallory einander in der Demo schreiben.
demo-text-hello = Hallo Bob! Ich probiere gerade Tern aus.
demo-text-answer = Hallo Alice, ich höre dich laut und deutlich.
demo-text-there = Bist du noch da?
demo-text-meeting = Das Treffen ist auf 15 Uhr verschoben.
demo-text-slides = Bring bitte die Folien mit.
demo-text-works = 15 Uhr passt mir.
demo-text-meeting-edited = Das Treffen ist auf 16 Uhr verschoben.
demo-text-prize = Du hast einen Preis gewonnen! Antworte, um ihn abzuholen.
demo-text-last = Letzte Chance!
demo-text-new-key = Neuer Schlüssel, derselbe Bob.
demo-text-checked = Geprüft: du bist es wirklich.

## tern share

share-on = an
share-off = aus
share-typing = Tippanzeige: { $state }
share-presence = Anwesenheit (online, zuletzt gesehen): { $state }

# Dateien
send-file-unreadable = die Datei ist nicht lesbar: { $error }
file-ready = hier
file-offered = nicht geladen
file-fetching = wird geladen
file-failed = fehlgeschlagen
attachments-none = Noch keine Dateien.
save-exists = { $path } gibt es schon; gib einen anderen Pfad an
save-done = { $path } gespeichert ({ $size })
save-bad-id = „{ $id }“ ist keine Nachrichten-ID (mindestens 4 Hex-Ziffern, wie `tern attachments` sie zeigt)
save-no-file = keine Datei in einer Nachricht { $id }
save-ambiguous = „{ $id }“ passt auf mehrere Dateien; gib mehr Ziffern an
save-needs-daemon = die Datei ist noch nicht hier: starte `tern daemon`, um sie zu holen
save-stream-ended = der Daemon hielt an, während die Datei geholt wurde
save-failed = die Datei konnte nicht geholt werden: { $reason }
chat-file-fetching = { $name } wird geholt; drück Alt-s noch einmal, sobald sie hier ist
chat-file-saved = { $path } gespeichert
chat-group-keys = Nachricht · Enter senden · /reply /react /edit /delete /delete-for-me /file /save · /add /remove /rename /admin /demote /relays /leave /members /search · Strg-N/P nächster Chat · Esc beenden · Bild↑/Bild↓ blättern
chat-no-other-chat = kein anderer Chat zum Wechseln
chat-group-empty = Noch keine Nachrichten. Sag der Gruppe hallo.
chat-group-members = Mitglieder
chat-group-member-list = Mitglieder: { $members }
chat-group-admin = Admin
chat-group-created = du hast #{ $name } erstellt
chat-group-joined = { $by } hat dich zu #{ $name } hinzugefügt
chat-group-added = { $by } hat { $members } hinzugefügt
chat-group-removed = { $by } hat { $members } entfernt
chat-group-left = { $member } ist ausgetreten
chat-group-renamed = { $by } hat die Gruppe in #{ $name } umbenannt
chat-group-timer = ⏱ { $by } hat verschwindende Nachrichten auf { $timer } gestellt
chat-group-timer-off = ⏱ { $by } hat verschwindende Nachrichten ausgeschaltet
chat-group-log-moved = { $by } hat die Nachrichten der Gruppe zu { $relays } verlegt
chat-group-promoted = { $by } hat { $member } zum Admin gemacht
chat-group-demoted = { $by } hat { $member } wieder zum Mitglied gemacht
chat-group-ended = du bist nicht mehr in dieser Gruppe
chat-search-none = 🔍 „{ $query }“: nichts in diesem Chat
chat-search-found = 🔍 „{ $query }“: { $count } gefunden, hervorgehoben (Esc hebt auf)
chat-search-older = 🔍 „{ $query }“: { $count } gefunden, keine auf diesem Bildschirm; die neueste, { $time }: { $text }
chat-search-usage = /search braucht die Wörter, die es finden soll
chat-group-failing-over = ⚠ ihre Relays sind unerreichbar: ihr Log zieht um
chat-group-unreachable = ⚠ ihre Relays antworten nicht
chat-group-waiting = das Hinzufügen von { $member } wartet auf das Schlüsselpaket; beitreten kann er, sobald sein Knoten antwortet
chat-group-behind = du warst länger weg, als die Relays der Gruppe Nachrichten aufbewahren: was inzwischen gesendet wurde, fehlt diesem Gerät. { $admins } wurde gebeten, dich wieder hinzuzufügen
chat-group-missed = du warst länger weg, als die Relays der Gruppe Nachrichten aufbewahren: bis zu { $count } inzwischen gesendete Nachrichten, Bestätigungen und Änderungen fehlen diesem Gerät
chat-group-behind-alone = du warst länger weg, als die Relays der Gruppe Nachrichten aufbewahren: was inzwischen gesendet wurde, fehlt diesem Gerät. Kein Admin ist unter deinen Kontakten: bitte einen, dich zu entfernen und neu hinzuzufügen
chat-group-added-back = { $by } hat { $members } wieder hinzugefügt (länger weg, als die Relays Nachrichten aufbewahren)
chat-group-not-member = nicht mehr Mitglied: nichts kann gesendet werden
chat-group-unknown-command = unbekannter Befehl { $command }; versuch /reply, /react, /edit, /delete, /delete-for-me, /file, /save, /add, /remove, /rename, /admin, /demote, /relays, /disappear, /search, /leave oder /members
chat-group-needs-name = { $command } braucht danach einen Namen
chat-group-needs-text = { $command } braucht danach einen Text
chat-group-no-target = noch keine Nachricht, auf die sich das beziehen kann
chat-group-needs-path = { $command } braucht danach eine Datei
chat-group-no-file = keine Datei in dieser Gruppe zum Speichern
chat-group-file-fetching = { $name } wird geholt; tipp /save noch einmal, sobald sie hier ist
chat-group-asked = { $command }: an das Log der Gruppe geschickt; es erscheint hier, sobald die Gruppe es übernommen hat
demo-text-photo = die Aussicht aus dem Büro
demo-file = schickt { $name } ({ $size }): auf ihrem Gerät mit einem frischen Schlüssel verschlüsselt; die Nachricht trägt Wurzel und Schlüssel
demo-file-preview = zeigt aus der Nachricht eine verschwommene Vorschau von { $name }, während das Foto geholt wird
demo-file-seen = hat { $name } von Alices Gerät geholt, alle 16 KiB gegen die Wurzel geprüft, bevor sie geschrieben wurden ({ $size })
demo-text-slides-file = die Folien, für morgen
demo-file-offline = schickt { $name } ({ $size }), während bob weg ist: eine Kopie geht mit der Nachricht an sein Relay
demo-relay-holds-file = hält { $count } verschlüsselte Datei(en), { $bytes } Bytes: kein Name, kein Schlüssel, kein Absender
demo-file-from-relay = hat { $name } geholt ({ $size }), alle 16 KiB gegen die Wurzel geprüft; sie kam von { $source }
demo-source-relay = seinem Relay (Alices Gerät bot sie auch an)
demo-source-device = Alices Gerät (sein Relay hielt auch eine Kopie)

## Groups
group-created = #{ $name } erstellt
group-adding = Wird zu #{ $name } hinzugefügt: jedes Mitglied ist dabei, sobald das Protokoll der Gruppe die Änderung aufgenommen hat (`tern group info` zeigt, wer dabei ist)
group-removing = { $member } wird aus #{ $name } entfernt
group-leaving = { $group } wird verlassen: der Knoten eines Admins schließt es ab (bist du der letzte Admin, der des dienstältesten Mitglieds, das dann Admin wird)
group-renaming = Die Gruppe wird umbenannt
group-moving-log = Die Nachrichten der Gruppe werden zu { $count ->
    [one] einem Relay
   *[other] { $count } Relays
} verlegt; die Mitglieder folgen, sobald die Änderung entschieden ist.
group-relays = Relays: { $relays }
group-failing-over = ⚠ niemand erreichte diese Relays: das Log der Gruppe zieht zu anderen um (die Umzüge der Admins werden abgeglichen)
group-unreachable = ⚠ keines dieser Relays hat seit { $since } geantwortet: nach der Failover-Frist verlegt der Knoten eines Admins das Log der Gruppe
chat-group-needs-relay = { $command } braucht danach Relay-Adressen (…/p2p/PEER)
group-admin-changing = Die Rolle von { $member } wird geändert
group-none = Noch keine Gruppen: `tern group create NAME KONTAKT…` erstellt eine.
group-member-count = { $count ->
    [one] 1 Mitglied
   *[other] { $count } Mitglieder
}
group-you = du
group-admin = (Admin)
group-left-mark = (verlassen)
group-inactive = Du bist nicht mehr in dieser Gruppe.
group-keys-renewed = Deine Schlüssel darin wurden zuletzt { $time } erneuert (wöchentlich, für Sicherheit nach einer Kompromittierung).
group-keys-not-renewed = Deine Schlüssel darin werden innerhalb eines Tages nach dem Beitritt erneuert, danach wöchentlich.
group-held = { $count } deiner Nachrichten warten, bis der Austritt eines Mitglieds übernommen ist; sie gehen raus, sobald er es ist.
group-timer = ⏱ Nachrichten verschwinden { $timer } nach dem Lesen
demo-group-name = familie
demo-group-created = erstellt die Gruppe #{ $name } und fügt bob und carol hinzu: eine MLS-Gruppe, deren Protokoll ihr Relay führt
demo-group-joined = ist #{ $name } beigetreten, mit dem Welcome, das alice über ihre 1:1-Sitzung geschickt hat
demo-text-group = Abendessen am Sonntag?
demo-text-group-after = Carol kann das nicht lesen.
demo-group-sent = → #{ $name } { $text }: ein Upload in das Protokoll der Gruppe
demo-group-received = ← #{ $name } { $text }
demo-group-delivered = sieht ✓{ $delivered }/{ $members }: zugestellt an { $delivered } von { $members } Mitgliedern, jedes bestätigt über das Protokoll
demo-text-group-photo = endlich der Strand
demo-group-search = durchsucht ihren Verlauf nach { $text }: gefunden in #{ $name }, mit einem Index, der nur im Speicher liegt
demo-group-file = → #{ $name } { $file } ({ $size }): einmal verschlüsselt und einmal hochgeladen, zum Relay der Gruppe, wie groß die Gruppe auch ist
demo-group-file-seen = hat { $file } vom Relay der Gruppe geholt, jede 16 KiB gegen ihre Wurzel geprüft
demo-group-removes = entfernt carol: ein Commit, und die Gruppe wechselt zu neuen Schlüsseln
demo-group-ended = ist nicht mehr in der Gruppe: ihre Schlüssel öffnen nichts, was ab jetzt gesendet wird
demo-group-notice = sein Verlauf behält „alice hat carol entfernt“ dort, wo es geschah, für jedes spätere Öffnen des Chats
demo-group-sealed = hat nichts nach ihrer Entfernung: das Protokoll gibt es ihr nicht einmal
demo-group-moves = verlegt die Nachrichten der Gruppe zu einem zweiten Relay, { $address }: ein Commit, über den das erste entscheidet
demo-group-moved = folgt: liest und schreibt die Gruppe ab diesem Commit beim zweiten Relay
demo-text-group-moved = Jetzt beim zweiten Relay.
demo-group-timer = schaltet verschwindende Nachrichten in #{ $name } für alle ein: 1 Tag nach dem Lesen
demo-text-group-timer = Wir sehen uns am Bahnhof.
demo-group-timer-seen = bekommt { $text }, das ihr Knoten einen Tag nach dem Lesen löscht; Bobs Knoten löscht seine Kopie einen Tag nach dem Senden
demo-group-relay-down = das zweite Relay fällt aus: niemand erreicht das Log von #{ $name }
demo-group-failover = ihr Knoten, der einer Admin, hat das Log der Gruppe nach { $secs } s ohne Antwort zu ihrem eigenen Relay verlegt (außerhalb der Demo nach einer Stunde)
demo-group-failover-followed = folgt demselben Umzug und liest dort weiter
demo-text-group-failover = Immer noch da, auf einem anderen Relay.
