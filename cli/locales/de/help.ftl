# Die Hilfe (`tern --help`) auf Deutsch. Eine Nachricht je Befehl, benannt nach seinem Pfad
# (cli, cli-contact-add); ihr Wert ist die Kurzbeschreibung, `.long` der Rest der langen
# Hilfe, `.after` ersetzt den Text nach den Optionen, `.arg-<id>` ist die Hilfe eines
# Arguments. Ein Unit-Test verlangt jeden Befehl und jedes Argument des Befehlsbaums.
# Zeilen, die mit Leerzeichen beginnen sollen, beginnen mit {"  "}.

examples = Beispiele:

cli = Tern: Peer-to-Peer-Nachrichten mit Ende-zu-Ende-Verschlüsselung, aus deinem Terminal
    .after =
        Beispiele:
        {"  "}tern init                      ein Konto anlegen (fragt nach einer Passphrase)
        {"  "}tern daemon                    den Knoten starten; die anderen Befehle sprechen mit ihm
        {"  "}tern contact add bob tern:tern1...
        {"  "}tern send bob 'hallo'          eine Nachricht senden
        {"  "}tern chat bob                  Chat im Vollbild
        {"  "}tern demo                      zwei Nutzern beim Chatten über ein Relay zusehen, ohne Einrichtung

        Exit-Codes: 0 ok, 1 Fehler, 2 Aufruf, 3 gesperrt oder falsche Passphrase, 4 kein Daemon oder Netz,
        5 unbekannter Kontakt.
    .arg-data_dir = Das Profilverzeichnis: Konto, Verlauf, Daemon-Dateien. Mehrere Profile können nebeneinander liegen. Vorgabe: $XDG_DATA_HOME/tern, sonst ~/.local/share/tern
    .arg-json = Maschinenlesbares JSON ausgeben (ein stabiles Schema, immer englisch; Fehler als {"{"}"error": {"{"}...{"}"}{"}"} auf stderr)
    .arg-verbose = Mehr Log-Ausgabe (-v info, -vv debug, -vvv trace). RUST_LOG hat Vorrang
    .arg-passphrase_file = Die Passphrase aus der ersten Zeile dieser Datei lesen, statt zu fragen. Die Umgebungsvariable TERN_PASSPHRASE geht auch
    .arg-lang = Die Sprache der Ausgabe: en oder de. Vorgabe: aus LC_ALL, LC_MESSAGES oder LANG; englisch mit --json
    .arg-insecure_no_passphrase = Gar keine Passphrase verwenden: wer das Datenverzeichnis lesen kann, kann das Konto lesen. Nur für Tests und Wegwerfprofile

cli-init = Ein Konto anlegen, seine Schlüssel mit einer Passphrase verschlüsselt
    .long = Die Passphrase wird im Terminal erfragt (zweimal) oder aus --passphrase-file oder der Umgebungsvariablen TERN_PASSPHRASE gelesen. Netzwerkeinstellungen, die hier angegeben werden, landen für `tern daemon` in der config.toml des Profils.
    .arg-bootstrap = Ein Bootstrap-Peer, eine Multiaddr, die auf /p2p/<Peer-ID> endet (wiederholbar)
    .arg-relay = Ein Postfach-Relay, das Nachrichten aufbewahrt, solange dieses Konto offline ist (wiederholbar; drei sind empfohlen)
    .arg-relay_only = Kontakte nur über Relays erreichen, nie direkt (verbirgt die IP-Adresse dieses Rechners vor ihnen, auf Kosten der Latenz)
    .arg-no_relay_discovery = Das Postfach nur bei den mit --relay angegebenen Relays führen; nie Relays aus der DHT hinzufügen (für private Relays)

cli-id = Adresse, Einladung, Fingerabdruck und QR-Code dieses Kontos zeigen
    .arg-no_qr = Den QR-Code weglassen
    .arg-rotate_key = Vorher den Identitätsschlüssel dieses Kontos ersetzen (die Adresse bleibt; Kontakte sehen eine Änderung)

cli-daemon = Den Knoten im Vordergrund betreiben und die lokale API anbieten
    .long =
        Der Daemon stellt Nachrichten zu und empfängt sie, und er bietet die lokale API an, die die anderen Befehle, Oberflächen und Bots benutzen.

        Beim Start schreibt er die API-Adresse nach <Datenverzeichnis>/api.addr und ein neues Token nach <Datenverzeichnis>/api.token (Modus 0600). Beende ihn mit Strg-C oder SIGTERM; nichts Angenommenes geht verloren, auch nicht bei einem Absturz.
    .arg-listen = Auf dieser Multiaddr lauschen (wiederholbar; Vorgabe: alle Schnittstellen, zufällige Ports)
    .arg-bootstrap = Ein Bootstrap-Peer, zusätzlich zu denen in config.toml (wiederholbar)
    .arg-relay = Ein Postfach-Relay, zusätzlich zu denen in config.toml (wiederholbar)
    .arg-relay_only = Kontakte nur über Relays erreichen
    .arg-no_mdns = Nicht im lokalen Netz nach Peers suchen
    .arg-no_group_read_receipts = Für dich behalten, was du in Gruppen liest: ihnen keine Lesebestätigungen senden
    .arg-no_relay_discovery = Das Postfach nur bei den eingestellten Relays führen; nie Relays aus der DHT hinzufügen
    .arg-api_addr = Wo die lokale API lauscht. Nur Loopback-Adressen: die API ist für diesen Rechner

cli-contact = Kontakte verwalten: hinzufügen, auflisten, entfernen, verifizieren, Regel für Schlüsseländerungen setzen
cli-contact-add = Einen Kontakt aus seiner Adresse oder Einladung hinzufügen (oder umbenennen)
    .arg-name = Der Name, unter dem er erscheint (1 bis 64 Bytes)
    .arg-address = Seine Adresse (tern1…) oder Einladung (tern:tern1…)
cli-contact-list = Kontakte auflisten
cli-contact-remove = Einen Kontakt entfernen. Der Verlauf der Unterhaltung bleibt
    .arg-name = Name oder Adresse des Kontakts
cli-contact-verify = Sicherheitsnummern mit einem Kontakt vergleichen und ihn als verifiziert markieren
    .long = Lest euch die 60 Ziffern persönlich oder in einem Anruf vor, dem ihr vertraut. Stimmen sie überein, sitzt niemand zwischen euch. Ohne Terminal gib --yes an (Zahlen schon verglichen) oder --clear.
    .arg-name = Name oder Adresse des Kontakts
    .arg-yes = Ohne Rückfrage als verifiziert markieren (die Zahlen wurden schon verglichen)
    .arg-clear = Die Markierung „verifiziert“ entfernen
cli-contact-policy = Zeigen oder festlegen, was eine Änderung des Identitätsschlüssels eines Kontakts bewirkt
    .long = Die Adresse deines Kontakts ändert sich nie, aber der Identitätsschlüssel, den sein Konto signiert, kann sich ändern: wenn er ihn ersetzt (`tern id --rotate-key`) oder wenn jemand seinen Kontoschlüssel besitzt. Jede Regel zeigt die Änderung im Chat. warn (die Voreinstellung) nimmt außerdem die Markierung „verifiziert“ weg; block hält außerdem deine Nachrichten sicher im Postausgang an, bis du den Kontakt erneut verifizierst; trust-new zeigt sie nur.
    .arg-name = Name oder Adresse des Kontakts
    .arg-policy = Die Regel; ohne sie wird die aktuelle gezeigt

cli-send = Eine Nachricht senden (braucht einen laufenden `tern daemon`)
    .long = Die Nachricht ist sicher auf der Platte, wenn der Befehl zurückkehrt; der Daemon stellt sie zu, direkt oder über die Relays des Empfängers, solange er offline ist.
    .arg-to = Name oder Adresse des Kontakts, oder eine Gruppe als `#name`
    .arg-text = Der Text; von der Standardeingabe gelesen, wenn er fehlt oder `-` ist. Mit --file eine optionale Bildunterschrift
    .arg-file = Diese Datei senden (bis 100 MB; Fotos, Videos und Audio bis 16 MB als Medien)
    .arg-thumbnail = Mit `--file`: ein kleines Vorschaubild (JPEG, PNG, WebP oder GIF, höchstens 16 KiB), das gezeigt wird, bevor die Datei geladen ist
    .arg-blurhash = Mit `--file`: ein Blurhash, der gezeigt wird, bevor die Datei geladen ist
cli-reply = Auf eine Nachricht antworten: der Empfänger sieht sie zitiert (braucht einen laufenden `tern daemon`)
    .arg-peer = Name oder Adresse des Kontakts, oder eine Gruppe als `#name`
    .arg-message = Die beantwortete Nachricht: ihre ID, ein eindeutiger Anfang davon (wie `tern history` ihn zeigt) oder `last`
    .arg-text = Der Text
cli-react = Mit einem Emoji auf eine Nachricht reagieren; ersetzt deine frühere Reaktion (braucht `tern daemon`)
    .arg-peer = Name oder Adresse des Kontakts, oder eine Gruppe als `#name`
    .arg-message = Die Nachricht: ihre ID, ein eindeutiger Anfang davon oder `last`
    .arg-emoji = Ein Emoji
    .arg-remove = Deine Reaktion zurücknehmen
cli-edit = Eine deiner Nachrichten bearbeiten, binnen 24 Stunden nach dem Senden (braucht `tern daemon`)
    .long = Jeder Empfänger sieht den neuen Text, als bearbeitet markiert; `tern edits` zeigt jede Version.
    .arg-peer = Name oder Adresse des Kontakts, oder eine Gruppe als `#name`
    .arg-message = Deine Nachricht: ihre ID, ein eindeutiger Anfang davon oder `last` (deine neueste)
    .arg-text = Der neue Text
cli-delete = Eine Nachricht löschen: für alle (deine eigene, binnen 24 Stunden nach dem Senden) oder mit --for-me nur auf diesem Gerät. Ihr Text wird aus den Datenbankdateien gelöscht
    .after =
        Beispiele:
        {"  "}tern delete bob last                 (deine neueste Nachricht, für alle)
        {"  "}tern delete bob 1a2b3c4d --for-me    (irgendeine Nachricht, nur auf diesem Gerät)
    .arg-peer = Name oder Adresse des Kontakts, oder eine Gruppe als `#name`
    .arg-message = Die Nachricht: ihre ID, ein eindeutiger Anfang davon oder `last` (deine neueste, mit --for-me die neueste)
    .arg-for_me = Nur auf diesem Gerät löschen; die andere Seite behält ihre Kopie
cli-edits = Jede Version einer bearbeiteten Nachricht zeigen, die älteste zuerst
    .arg-peer = Name oder Adresse des Kontakts, oder eine Gruppe als `#name`
    .arg-message = Die Nachricht: ihre ID, ein eindeutiger Anfang davon oder `last`

cli-search = Deinen Verlauf durchsuchen: Nachrichten, die jedes Wort enthalten, die neueste zuerst
    .long = Groß- und Kleinschreibung und Akzente spielen keine Rolle, das letzte Wort darf ein Wortanfang sein, und jede Sprache geht. Der Index liegt nur im Speicher (nichts davon wird auf die Platte geschrieben) und wird beim Start des Knotens aufgebaut.
    .arg-words = Die gesuchten Wörter
    .arg-peer = Nur die Unterhaltung mit diesem Kontakt (Name oder Adresse)
    .arg-limit = Treffer je Seite (1 bis 500)
    .arg-after = Der `after`-Cursor, den eine vorige Seite ausgegeben hat, für ältere Treffer

cli-chats = Unterhaltungen auflisten, angeheftete zuerst, dann die neuesten, mit ungelesenen Nachrichten, und danach die Gruppen, in denen du bist (`tern group`); eine stummschalten, archivieren, anheften oder löschen. Nachrichtenanfragen von Leuten, die keine Kontakte sind, listet `tern requests`
    .arg-archived = Stattdessen die archivierten Chats auflisten
    .arg-limit = Chats je Seite
    .arg-cursor = Ab dem `next`-Cursor einer vorigen Seite weitermachen
cli-chats-mute = Einen Chat stummschalten: seine Nachrichten kommen an und zählen als ungelesen, ohne Benachrichtigung
    .arg-peer = Name eines Kontakts oder eine Adresse
    .arg-duration = Wie lange: eine Zahl mit s, m, h, d oder w (`8h`, `1w`); ohne Angabe bis zum Aufheben
cli-chats-unmute = Die Stummschaltung eines Chats aufheben
    .arg-peer = Name eines Kontakts oder eine Adresse
cli-chats-archive = Einen Chat ins Archiv verschieben (`tern chats --archived`); eine Nachricht, die ankommt, während er nicht stummgeschaltet ist, holt ihn zurück
    .arg-peer = Name eines Kontakts oder eine Adresse
cli-chats-unarchive = Einen Chat aus dem Archiv holen
    .arg-peer = Name eines Kontakts oder eine Adresse
cli-chats-pin = Einen Chat oben in der Liste anheften
    .arg-peer = Name eines Kontakts oder eine Adresse
cli-chats-unpin = Einen Chat loslösen
    .arg-peer = Name eines Kontakts oder eine Adresse
cli-chats-downloads = Wählen, welche Dateien eines Chats geladen werden, sobald ihre Nachricht ankommt; die übrigen warten darauf, geholt zu werden (`tern attachments`, `tern save`)
    .arg-peer = Name eines Kontakts oder eine Adresse, oder eine Gruppe als `#name`
    .arg-rule = `never`, `always` (jede Datei, bis 100 MB), eine Größe wie `2MB` oder `500kB`, oder `default` (die Regel des Knotens: bis 16 MB, Fotos, Sprachnachrichten und kurze Videos)
cli-chats-delete = Eine Unterhaltung und jede für sie gespeicherte Nachricht löschen (aus den Datenbankdateien entfernt); noch nicht zugestellte Nachrichten an den Peer werden nicht gesendet. Der Kontakt bleibt
    .arg-peer = Name eines Kontakts oder eine Adresse

cli-requests = Nachrichtenanfragen auflisten oder eine annehmen oder löschen. Eine Anfrage enthält die Nachrichten von jemandem, der weder Kontakt ist noch in deinen Chats steht; er bekommt keine Bestätigungen, bis du annimmst. Lies eine mit `tern history ADRESSE`; blockiere den Absender mit `tern block ADRESSE`
cli-requests-accept = Eine Anfrage annehmen: sie wird ein Chat, und der Absender bekommt die zurückgehaltenen Bestätigungen
    .arg-peer = Die Adresse des Absenders
cli-requests-delete = Eine Anfrage und ihre Nachrichten löschen. Der Absender kann wieder schreiben (eine neue Anfrage)
    .arg-peer = Die Adresse des Absenders
cli-block = Ein Konto blockieren: seine Nachrichten werden abgewiesen (direkt) oder verworfen (über Relays), seine Nachrichtenanfrage wird gelöscht, und du kannst ihm nicht schreiben, bis du es wieder freigibst. Ohne Adresse die blockierten Konten auflisten
    .arg-peer = Name eines Kontakts oder eine Adresse; ohne Angabe werden die blockierten Konten aufgelistet
cli-unblock = Ein Konto nicht mehr blockieren. Nachrichten, die es währenddessen geschickt hat, kommen nicht zurück
    .arg-peer = Name eines Kontakts oder eine Adresse

cli-disappear = Verschwindende Nachrichten in einer Unterhaltung oder Gruppe ein- oder ausschalten. Alle darin sehen die Änderung im Chat; ab dann wird jede Nachricht so lange nach dem Senden (auf dem Gerät des Absenders) oder dem Lesen (auf denen der anderen) gelöscht, aus Verlauf, Suche und Datenbankdateien
    .arg-peer = Name eines Kontakts oder eine Adresse, oder eine Gruppe als `#name`
    .arg-after = `5m`, `1h`, `1d`, `1w` oder `off`
cli-profile = Das Profil zeigen oder setzen, das du mit Kontakten teilst: einen Anzeigenamen und einen kurzen Status. Es geht Ende-zu-Ende-verschlüsselt an jeden Kontakt und angenommenen Chat und an niemanden sonst; ein Name, den du einem Kontakt gibst, steht vor dem, den er teilt
cli-profile-set = Anzeigenamen und Status setzen und an die Kontakte senden
    .arg-name = Der Anzeigename (1 bis 128 Bytes)
    .arg-status = Eine kurze Statuszeile (höchstens 512 Bytes)

cli-share = Zeigen oder ändern, was du mit Kontakten teilst, solange du online bist: Tippanzeige und Anwesenheit (online, zuletzt gesehen). Beides ist aus, bis du es einschaltest, und gegenseitig: ist eines aus, siehst du es auch von niemandem. Beides wird nie gespeichert und nie über Relays gesendet
    .arg-what = `typing` oder `presence`
    .arg-state = `on` oder `off`

cli-history = Eine Unterhaltung zeigen, die älteste Nachricht zuerst
    .long = Mit --before geht es seitenweise zurück in der Zeit.
    .after =
        Beispiele:
        {"  "}tern history bob
        {"  "}tern history bob --limit 20 --before 0000018c3f...
        {"  "}tern history bob --json | jq -r '.messages[].text'

        Jede Zeile beginnt mit der kurzen ID der Nachricht, für tern reply, react, edit und delete.
    .arg-peer = Name oder Adresse des Kontakts
    .arg-limit = Nachrichten je Seite (1 bis 500)
    .arg-before = Der `before`-Cursor, den eine vorige Seite ausgegeben hat, für ältere Nachrichten
cli-attachments = Gesendete und empfangene Dateien auflisten, die neueste zuerst: ihre Nachrichten-ID (für `tern save`), die Unterhaltung, Name, Größe und ob sie hier sind
    .after =
        Beispiele:
        {"  "}tern attachments
        {"  "}tern attachments bob
        {"  "}tern attachments '#family'
        {"  "}tern attachments --json | jq '.files[] | select(.file.state == "offered")'
    .arg-peer = Nur die Dateien dieser Unterhaltung (Name oder Adresse eines Kontakts, oder eine Gruppe als `#name`)

cli-save = Eine Datei aus einer Nachricht auf die Platte schreiben
    .long = Eine Datei, die noch nicht hier ist (größer als die Grenze fürs automatische Laden, oder ihr Abruf schlug fehl), wird zuerst geholt, mit Fortschrittsanzeige; geschrieben wird nur eine vollständig geprüfte Datei, und nie über eine vorhandene.
    .after =
        Beispiele:
        {"  "}tern attachments
        {"  "}tern save 1a2b3c4d
        {"  "}tern save 1a2b3c4d ~/Dokumente/bericht.pdf
    .arg-id = Die Nachrichten-ID, wie `tern attachments` sie zeigt (ein eindeutiger Anfang genügt)
    .arg-path = Wohin; ohne Angabe der Name der Datei im aktuellen Verzeichnis

cli-read = Eine Unterhaltung als gelesen markieren
    .long = Der Absender sieht Lesebestätigungen (sie gehen mit dem Daemon hinaus). Eine Gruppe (`#name`) wird nur hier als gelesen markiert: Gruppen senden keine Lesebestätigungen.
    .arg-peer = Name oder Adresse des Kontakts, oder eine Gruppe als `#name`

cli-chat = Mit einem Kontakt oder einer Gruppe chatten oder eine Nachrichtenanfrage lesen, im Vollbild (braucht `tern daemon`)
    .long =
        Verlauf zum Zurückblättern, Nachrichten live, Zustellmarken (… eingereiht, ⇡k/R bei Relays gespeichert, ✓ zugestellt, ✓✓ gelesen), Verbindungsstatus. Arbeitet über Neustarts des Daemons hinweg weiter.

        Tasten: Enter sendet; ←/→, Pos1/Ende, Rücktaste/Entf, Strg-U, Strg-W bearbeiten; Bild↑/Bild↓ und ↑/↓ blättern; Esc oder Strg-C beendet. Alt-↑/↓ wählen eine Nachricht aus; dann antwortet Alt-r auf sie, Alt-e bearbeitet sie, Alt-d löscht sie für alle (deine eigene), Alt-x löscht sie für dich, Alt-1…5 reagieren (👍 ❤️ 😂 🎉 😮), und Alt-0 nimmt deine Reaktion zurück. Befehle in der Eingabezeile: /accept (eine Nachrichtenanfrage), /block, /unblock, /delete (die Unterhaltung und ihre Nachrichten, danach Ende). Strg-N / Strg-P wechseln zum nächsten oder vorigen Chat (deine Gruppen kommen nach den 1:1-Chats), Strg-K findet einen nach Namen, Strg-L zeigt oder verbirgt die Chatliste (auf Terminals ab 140 Spalten von selbst sichtbar).

        In einer Gruppe (`tern chat '#familie'`): die Mitglieder neben der Unterhaltung auf breiten Terminals, Beitritte, Austritte, Umbenennungen und Rollenwechsel in der Unterhaltung, ⇡k/R an deinen Nachrichten, sobald die Relays der Gruppe sie übernehmen, dann ✓n/m, sobald Mitglieder sie erhalten, und ✓✓n/m, sobald sie sie lesen; /add NAME…, /remove NAME, /rename NAME, /admin NAME, /demote NAME, /leave und /members in der Eingabezeile; Strg-N / Strg-P wechseln auch hier den Chat.
    .after =
        Beispiele:
        {"  "}tern chat bob
        {"  "}tern chat '#familie'
        {"  "}tern chat tern1qz...      (eine Nachrichtenanfrage: mit /accept, /block oder /delete beantworten)
    .arg-peer = Name oder Adresse des Kontakts, oder `#name` einer Gruppe

cli-status = Den Zustand des Daemons zeigen: Peers, Adressen, NAT-Status, Circuits, den Weg zu jedem Kontakt, Relays, Länge des Ausgangs
cli-completions = Ein Skript für die Vervollständigung in der Shell ausgeben
    .arg-shell = Die Shell
cli-demo = Ein ganzes Tern-Netz auf diesem Rechner starten und ihm bei der Arbeit zusehen
    .long =
        Ein Relay und zwei Nutzer chatten; einer geht offline und bekommt seine Nachrichten später, genau einmal; die Nachricht einer Fremden ist eine Anfrage, und eine blockierte Fremde wird abgewiesen.

        Alles läuft auf 127.0.0.1 in einem temporären Verzeichnis, das am Ende entfernt wird. Nichts einzurichten, nichts bleibt zurück.

# Was clap selbst schreibt.
heading-usage = Aufruf:
heading-commands = Befehle
heading-arguments = Argumente
heading-options = Optionen
clap-help = Hilfe ausgeben
clap-help-more = Hilfe ausgeben (mehr mit „--help“)
clap-help-summary = Hilfe ausgeben (eine Übersicht mit „-h“)
clap-version = Version ausgeben
clap-help-command = Diese Hilfe oder die Hilfe der angegebenen Unterbefehle ausgeben

cli-group = Gruppenchats: eine Gruppe erstellen, Mitglieder hinzufügen und entfernen, sie umbenennen, Admins bestimmen, ihre Nachrichten zu anderen Relays verlegen, sie verlassen und ihre Mitglieder und Nachrichten sehen. Eine Gruppe heißt `#name` oder hat eine ID (ein Präfix aus 4 oder mehr Hex-Ziffern); `tern send '#name' TEXT` schreibt in sie
cli-group-create = Eine Gruppe mit dir als Admin erstellen und Kontakte hinzufügen
    .arg-name = Ihr Name
    .arg-members = Hinzuzufügende Kontakte (Namen oder Adressen)
cli-group-add = Kontakte zu einer Gruppe hinzufügen (nur Admins). Jeder ist dabei, sobald er sein Schlüsselpaket geschickt hat
    .arg-group = `#name` oder ID der Gruppe
    .arg-members = Hinzuzufügende Kontakte (Namen oder Adressen)
cli-group-remove = Ein Mitglied aus einer Gruppe entfernen (nur Admins): es liest nichts, was nach seiner Entfernung gesagt wird
    .arg-group = `#name` oder ID der Gruppe
    .arg-member = Das Mitglied (Name oder Adresse)
cli-group-leave = Eine Gruppe verlassen
    .arg-group = `#name` oder ID der Gruppe
cli-group-rename = Eine Gruppe umbenennen (nur Admins)
    .arg-group = `#name` oder ID der Gruppe
    .arg-name = Der neue Name
cli-group-admin = Ein Mitglied zum Admin einer Gruppe machen, oder mit --demote nicht mehr (nur Admins)
    .arg-group = `#name` oder ID der Gruppe
    .arg-member = Das Mitglied (Name oder Adresse)
    .arg-demote = Stattdessen die Admin-Rolle entziehen
cli-group-relays = Die Nachrichten einer Gruppe zu anderen Relays verlegen (nur Admins): die Relays, die ihr Log führen, in der Reihenfolge, die entscheidet. Eine Änderung, über die die Relays entscheiden, die es jetzt führen; jedes Mitglied folgt, eines, das weg ist, sobald es zurück ist; die alten Relays also behalten, bis alle gefolgt sind
    .arg-group = `#name` oder ID der Gruppe
    .arg-relays = 1 bis 3 Relay-Adressen, jede endet auf /p2p/PEER
cli-group-info = Eine Gruppe zeigen: ihre Mitglieder, Admins und Relays
    .arg-group = `#name` oder ID der Gruppe
cli-group-list = Deine Gruppen auflisten
cli-group-history = Die neuesten Nachrichten einer Gruppe zeigen
    .arg-group = `#name` oder ID der Gruppe
    .arg-limit = Wie viele Nachrichten (1 bis 500)
