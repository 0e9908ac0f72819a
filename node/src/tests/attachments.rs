//! Files between two in-process nodes on loopback: inline and as blobs fetched over
//! `/tern/blob/1`, auto-download and fetching on demand, verification, saving, bad requests
//! to the server, and deletion with the conversation.

use futures::AsyncWriteExt;
use tempfile::TempDir;
use tern_blob::{
    Capability, GroupSet, Root,
    wire::{self, GetStatus, Request},
};

use super::{TIMEOUT, start};
use crate::{
    AttachmentKind, AttachmentState, Event, MessageKind, Node, OutgoingFile, UserId,
    test_utils::{DamagedBlob, wait_for},
    transfer::PROTOCOL,
};

/// A file people would not find by accident in a database or a blob store.
fn marked_file(len: usize) -> Vec<u8> {
    let marker = b"TERN-PLAINTEXT-MARKER-";
    let mut file = Vec::with_capacity(len);
    let mut i = 0u32;
    while file.len() < len {
        file.extend_from_slice(marker);
        file.extend_from_slice(&i.to_be_bytes());
        i = i.wrapping_add(1);
    }
    file.truncate(len);
    file
}

/// Alice, and Bob who fetches files up to `auto_download` by himself; contacts with a
/// session and a direct connection.
async fn pair(dirs: &[TempDir], auto_download: u64) -> (Node, Node, Node) {
    let bootstrap = start(dirs[0].path(), &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &seed).await;
    let bob = start_bob(dirs[2].path(), &seed, auto_download).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    alice.add_contact("bob", b).await.unwrap();
    bob.add_contact("alice", a).await.unwrap();
    let mut bob_events = bob.events(crate::From::Now);
    alice.send(b, "hi bob").await.unwrap();
    crate::test_utils::wait_received(&mut bob_events, "hi bob").await;
    (bootstrap, alice, bob)
}

/// Bob's node in `dir`, which fetches files up to `auto_download` by itself.
async fn start_bob(dir: &std::path::Path, seed: &[String], auto_download: u64) -> Node {
    let mut builder = crate::test_utils::builder(dir)
        .with_relay_discovery(false)
        .with_auto_download(auto_download);
    for address in seed {
        builder = builder.with_bootstrap(address.clone());
    }
    builder.spawn().await.unwrap()
}

/// Picks the arrival of message `id`.
fn message(id: crate::MessageId) -> impl FnMut(&Event) -> Option<crate::Message> {
    move |e| match e {
        Event::MessageReceived(m) if m.id == id => Some(m.clone()),
        _ => None,
    }
}

fn state_of(id: crate::MessageId) -> impl FnMut(&Event) -> Option<AttachmentState> {
    move |e| match e {
        Event::AttachmentChanged { id: i, state, .. } if *i == id => Some(state.clone()),
        _ => None,
    }
}

async fn saved(node: &Node, peer: UserId, id: crate::MessageId, dir: &TempDir) -> Vec<u8> {
    let path = dir.path().join(format!("saved-{id}"));
    let len = node.save_attachment(peer, id, &path).await.unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(len, bytes.len() as u64);
    bytes
}

/// Every file under `dir`, read whole.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_arrive_inline_or_fetched_verified_and_leave_with_their_chat() {
    let dirs: Vec<TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_bootstrap, alice, bob) = pair(&dirs, 1_000_000).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    let mut bob_events = bob.events(crate::From::Now);

    // A small file travels inside its message and is ready at once.
    let note = marked_file(10_000);
    let note_id = alice
        .send_attachment(
            b,
            OutgoingFile::from_bytes("note.txt", note.clone()),
            "a note",
        )
        .await
        .unwrap();
    let received = wait_for(&mut bob_events, message(note_id)).await;
    assert_eq!(received.kind, MessageKind::Attachment);
    assert_eq!(received.text, "a note");
    let attachment = received.attachment.unwrap();
    assert_eq!(
        (
            attachment.name.as_str(),
            attachment.mime.as_str(),
            attachment.size
        ),
        ("note.txt", "text/plain", 10_000)
    );
    assert_eq!(attachment.state, AttachmentState::Ready);
    assert_eq!(saved(&bob, a, note_id, &dirs[3]).await, note);

    // A photo under the auto-download limit is fetched from Alice's device at once, with
    // progress, and handed out only once it verified.
    let photo = marked_file(900_000);
    let photo_id = alice
        .send_attachment(b, OutgoingFile::from_bytes("photo.jpg", photo.clone()), "")
        .await
        .unwrap();
    let received = wait_for(&mut bob_events, message(photo_id))
        .await
        .attachment
        .unwrap();
    assert_eq!(received.state, AttachmentState::Fetching);
    let mut progressed = false;
    let end = wait_for(&mut bob_events, |e| match e {
        Event::AttachmentProgress { id, .. } if *id == photo_id => {
            progressed = true;
            None
        }
        Event::AttachmentChanged { id, state, .. } if *id == photo_id => Some(state.clone()),
        _ => None,
    })
    .await;
    assert_eq!(end, AttachmentState::Ready);
    assert!(progressed, "progress was reported");
    assert_eq!(saved(&bob, a, photo_id, &dirs[3]).await, photo);

    // A document over the limit is offered, and fetched when Bob asks.
    let report = marked_file(3_000_000);
    let report_id = alice
        .send_attachment(
            b,
            OutgoingFile::from_bytes("report.pdf", report.clone()),
            "March",
        )
        .await
        .unwrap();
    let offered = wait_for(&mut bob_events, message(report_id))
        .await
        .attachment
        .unwrap();
    assert_eq!(offered.state, AttachmentState::Offered);
    assert!(matches!(
        bob.open_attachment(a, report_id).await,
        Err(crate::AttachmentError::NotReady)
    ));
    assert_eq!(
        bob.fetch_attachment(a, report_id).await.unwrap(),
        AttachmentState::Fetching
    );
    assert_eq!(
        wait_for(&mut bob_events, |e| match state_of(report_id)(e) {
            Some(AttachmentState::Fetching) => None,
            other => other,
        })
        .await,
        AttachmentState::Ready
    );
    assert_eq!(saved(&bob, a, report_id, &dirs[3]).await, report);

    // History and the list show the files; search finds one by its name.
    let page = bob.history(a, 10, None).await.unwrap();
    let shown: Vec<_> = page
        .messages
        .iter()
        .filter_map(|m| {
            m.attachment
                .as_ref()
                .map(|f| (f.name.as_str(), f.state.clone()))
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("note.txt", AttachmentState::Ready),
            ("photo.jpg", AttachmentState::Ready),
            ("report.pdf", AttachmentState::Ready)
        ]
    );
    assert_eq!(bob.attachments(None).await.unwrap().len(), 3);
    assert_eq!(alice.attachments(Some(b.into())).await.unwrap().len(), 3);
    let found = bob.search("report.pdf", None, 10, None).await.unwrap();
    assert_eq!(found.hits.len(), 1);

    // Bob's disk holds no plaintext and no file name; neither does Alice's blob store.
    for dir in [dirs[2].path(), &dirs[1].path().join("blobs")] {
        for (path, bytes) in files_under(dir) {
            assert!(
                !contains(&bytes, b"TERN-PLAINTEXT-MARKER"),
                "plaintext in {path:?}"
            );
            if path.starts_with(dirs[1].path().join("blobs")) {
                assert!(!contains(&bytes, b"report.pdf"), "a name in {path:?}");
            }
        }
    }

    // Deleting the chat deletes its files.
    let blobs = dirs[2].path().join("blobs/complete");
    assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 2);
    bob.delete_chat(a).await.unwrap();
    tokio::time::timeout(TIMEOUT, async {
        while std::fs::read_dir(&blobs).unwrap().count() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the blobs were not deleted");
    assert!(matches!(
        bob.open_attachment(a, photo_id).await,
        Err(crate::AttachmentError::NoAttachment(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_chat_can_have_its_own_download_rule_and_keeps_it() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (bootstrap, alice, bob) = pair(&dirs, 1_000_000).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    let mut bob_events = bob.events(crate::From::Now);
    let arrives = async |alice: &Node, bob_events: &mut crate::EventStream, len: usize| {
        let file = OutgoingFile::from_bytes("file.bin", marked_file(len));
        let id = alice.send_attachment(b, file, "").await.unwrap();
        wait_for(bob_events, message(id))
            .await
            .attachment
            .unwrap()
            .state
    };

    // Under the node's rule, but Bob wants nothing from Alice's chat by itself.
    bob.set_auto_download(a, Some(0)).await.unwrap();
    wait_for(&mut bob_events, |e| match e {
        Event::ChatChanged { peer, change } if *peer == a => Some(*change),
        _ => None,
    })
    .await;
    assert_eq!(
        arrives(&alice, &mut bob_events, 300_000).await,
        AttachmentState::Offered
    );
    // Then everything, over the node's rule too; and the rule survives a restart.
    bob.set_auto_download(a, Some(crate::MAX_FILE_LEN))
        .await
        .unwrap();
    bob.shutdown().await;
    let bob = start_bob(dirs[2].path(), &bootstrap.addresses().await, 1_000_000).await;
    let mut bob_events = bob.events(crate::From::Now);
    let chat = bob.chats().await.unwrap().into_iter().find(|c| c.peer == a);
    assert_eq!(chat.unwrap().auto_download, Some(crate::MAX_FILE_LEN));
    assert_eq!(
        arrives(&alice, &mut bob_events, 3_000_000).await,
        AttachmentState::Fetching
    );
    // Back to the node's rule.
    bob.set_auto_download(a, None).await.unwrap();
    let chat = bob.chats().await.unwrap().into_iter().find(|c| c.peer == a);
    assert_eq!(chat.unwrap().auto_download, None);
    assert_eq!(
        arrives(&alice, &mut bob_events, 3_000_000).await,
        AttachmentState::Offered
    );
    assert!(matches!(
        bob.set_auto_download(bootstrap.user_id(), Some(0)).await,
        Err(crate::ChatError::NoChat(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_travel_with_the_message_before_the_file() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_bootstrap, alice, bob) = pair(&dirs, 0).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    let mut bob_events = bob.events(crate::From::Now);
    let thumbnail = crate::Thumbnail::Image {
        mime: "image/jpeg".into(),
        width: 96,
        height: 64,
        bytes: vec![0xd8; 4000],
    };
    let waveform = crate::Waveform {
        duration_ms: 12_500,
        samples: (0..=255).collect(),
    };
    let photo = OutgoingFile::from_bytes("beach.jpg", marked_file(500_000))
        .with_thumbnail(thumbnail.clone());
    let photo_id = alice.send_attachment(b, photo, "").await.unwrap();
    let memo = OutgoingFile::from_bytes("memo.ogg", marked_file(20_000))
        .with_kind(AttachmentKind::Voice)
        .with_waveform(waveform.clone());
    let memo_id = alice.send_attachment(b, memo, "").await.unwrap();
    for id in [photo_id, memo_id] {
        wait_for(&mut bob_events, message(id)).await;
    }
    // The photo is only offered, yet its thumbnail is here; so is the note's waveform.
    let preview = bob.attachment_preview(a, photo_id).await.unwrap();
    assert_eq!(preview.thumbnail, Some(thumbnail));
    assert_eq!(preview.waveform, None);
    assert!(matches!(
        bob.open_attachment(a, photo_id).await,
        Err(crate::AttachmentError::NotReady)
    ));
    let preview = bob.attachment_preview(a, memo_id).await.unwrap();
    assert_eq!(preview.waveform, Some(waveform));

    // A preview over the limits is refused before anything is sent.
    let history = alice.history(b, 100, None).await.unwrap().messages.len();
    let big = OutgoingFile::from_bytes("big.jpg", marked_file(300_000)).with_thumbnail(
        crate::Thumbnail::Image {
            mime: "image/jpeg".into(),
            width: 96,
            height: 96,
            bytes: vec![0; 17 * 1024],
        },
    );
    assert!(matches!(
        alice.send_attachment(b, big, "").await,
        Err(crate::AttachmentError::BadPreview(_))
    ));
    let long =
        OutgoingFile::from_bytes("long.ogg", marked_file(1000)).with_waveform(crate::Waveform {
            duration_ms: 1,
            samples: vec![0; 257],
        });
    assert!(matches!(
        alice.send_attachment(b, long, "").await,
        Err(crate::AttachmentError::BadPreview(_))
    ));
    assert_eq!(
        alice.history(b, 100, None).await.unwrap().messages.len(),
        history
    );
}

/// Plaintext bytes `range` of the file of message `id` on `node`, read whole.
async fn read_range(
    node: &Node,
    peer: UserId,
    id: crate::MessageId,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, crate::AttachmentError> {
    use std::io::Read;
    let mut reader = node.open_attachment_range(peer, id, range).await?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_videos_first_verified_range_plays_before_the_rest_arrives() {
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_bootstrap, alice, bob) = pair(&dirs, 0).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    let mut bob_events = bob.events(crate::From::Now);
    let video = marked_file(16_000_000);
    let id = alice
        .send_attachment(
            b,
            OutgoingFile::from_bytes("clip.mp4", video.clone()).with_kind(AttachmentKind::Video),
            "",
        )
        .await
        .unwrap();
    wait_for(&mut bob_events, message(id)).await;

    // Alice's copy is damaged past its middle: her device stops serving there, so Bob's
    // fetch gets the first half and then waits, as it would for a slow or gone sender.
    let damaged = DamagedBlob::past_the_middle(&dirs[1].path().join("blobs/complete"));

    bob.fetch_attachment(a, id).await.unwrap();
    wait_for(&mut bob_events, |e| match e {
        Event::AttachmentProgress { id: i, .. } if *i == id => Some(()),
        _ => None,
    })
    .await;
    // The first verified range plays; the end and the whole file are not there.
    // (The first window is 1 MiB of ciphertext: these 900,000 bytes lie in it.)
    let head = read_range(&bob, a, id, 0..900_000).await.unwrap();
    assert_eq!(head, video[..900_000]);
    let end = video.len() as u64;
    assert!(matches!(
        read_range(&bob, a, id, end - 1000..end).await,
        Err(crate::AttachmentError::NotReady)
    ));
    assert!(matches!(
        bob.open_attachment(a, id).await,
        Err(crate::AttachmentError::NotReady)
    ));
    assert!(matches!(
        read_range(&bob, a, id, end..end + 1).await,
        Err(crate::AttachmentError::BadRange { start, len }) if start == end && len == end
    ));

    // Once Alice's copy is whole again, the fetch ends where it stopped.
    damaged.repair();
    assert_eq!(
        wait_for(&mut bob_events, |e| match state_of(id)(e) {
            Some(AttachmentState::Fetching) => None,
            other => other,
        })
        .await,
        AttachmentState::Ready
    );
    let tail = read_range(&bob, a, id, end - 1000..end + 5).await.unwrap();
    assert_eq!(tail, video[video.len() - 1000..]);
    assert_eq!(read_range(&bob, a, id, 0..end).await.unwrap(), video);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_to_two_devices_not_yet_connected_open_at_once() {
    // Two fetches from two senders' devices that Bob is not connected to (their messages
    // came through relays) start at the same time.
    let dirs: Vec<TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let bob = start(dirs[0].path(), &[]).await;
    let alice = start(dirs[1].path(), &[]).await;
    let carol = start(dirs[2].path(), &[]).await;
    let mut known = Vec::new();
    for device in [&alice, &carol] {
        let addresses = device
            .addresses()
            .await
            .iter()
            .map(|a| a.parse().unwrap())
            .collect::<Vec<libp2p::Multiaddr>>();
        known.push((device.inner_net().peer_id(), addresses));
    }
    let open = async |(peer, addresses): (libp2p::PeerId, Vec<libp2p::Multiaddr>)| {
        tokio::time::timeout(
            std::time::Duration::from_secs(15),
            bob.inner_net().open_stream(peer, addresses, PROTOCOL),
        )
        .await
    };
    let (to_alice, to_carol) = tokio::join!(open(known[0].clone()), open(known[1].clone()));
    assert!(
        matches!(to_alice, Ok(Ok(_))),
        "alice: {:?}",
        to_alice.map(|r| r.map(|_| ()))
    );
    assert!(
        matches!(to_carol, Ok(Ok(_))),
        "carol: {:?}",
        to_carol.map(|r| r.map(|_| ()))
    );
}

/// Opens a `/tern/blob/1` stream from `from` to `to`'s device and sends `frame` raw.
async fn raw_get(from: &Node, to: &Node, frame: &[u8]) -> Result<GetStatus, wire::FrameError> {
    let mut control = from.inner_net().streams();
    let mut stream = control
        .open_stream(to.inner_net().peer_id(), PROTOCOL)
        .await
        .unwrap();
    stream.write_all(frame).await.unwrap();
    stream.flush().await.unwrap();
    wire::read_frame_async::<GetStatus>(&mut stream).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_wrong_capabilities_unknown_roots_and_garbage() {
    let dirs: Vec<TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_bootstrap, alice, bob) = pair(&dirs, 0).await;
    let (a, b) = (alice.user_id(), bob.user_id());
    let mut bob_events = bob.events(crate::From::Now);
    let file = marked_file(500_000);
    let id = alice
        .send_attachment(b, OutgoingFile::from_bytes("a.bin", file.clone()), "")
        .await
        .unwrap();
    wait_for(&mut bob_events, message(id)).await;
    let entry = alice.attachments(Some(b.into())).await.unwrap().remove(0);
    let root = {
        let store = alice.inner_store();
        let rows = store
            .scan::<crate::tables::Attachments>(.., crate::store::Direction::Forward, 10)
            .unwrap();
        crate::transfer::root_of(&rows[0].1.descriptor).unwrap()
    };
    assert_eq!(entry.attachment.size, 500_000);

    let get = |root: Root, capability: [u8; 32]| {
        wire::encode_frame(&Request::Get {
            root,
            groups: GroupSet::all(1),
            capability: Capability::from_bytes(capability),
        })
        .unwrap()
    };
    assert_eq!(
        raw_get(&bob, &alice, &get(root, [7; 32])).await.unwrap(),
        GetStatus::BadCapability
    );
    assert_eq!(
        raw_get(&bob, &alice, &get(Root::from_bytes([9; 32]), [7; 32]))
            .await
            .unwrap(),
        GetStatus::NotFound
    );
    assert_eq!(
        raw_get(&bob, &alice, b"\x01\x00\x00\x00\x03garbage")
            .await
            .unwrap(),
        GetStatus::BadRequest
    );
    let oversized = [1u8, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        raw_get(&bob, &alice, &oversized).await.unwrap(),
        GetStatus::BadRequest
    );

    // Alice still serves the real request.
    bob.fetch_attachment(a, id).await.unwrap();
    assert_eq!(
        wait_for(&mut bob_events, |e| match state_of(id)(e) {
            Some(AttachmentState::Fetching) => None,
            other => other,
        })
        .await,
        AttachmentState::Ready
    );
    assert_eq!(saved(&bob, a, id, &dirs[3]).await, file);
}
