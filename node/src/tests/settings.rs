//! Mute, archive and pin: what the chat list shows, and an archived chat coming back when a
//! message arrives while it is not muted.

use super::*;
use crate::{
    ChatChange, ChatError,
    test_utils::{wait_for, wait_received},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_chats_come_first_and_archived_ones_come_back_when_written_to() {
    let dirs: Vec<TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let bootstrap = start(dirs[0].path(), &[]).await;
    let seed = bootstrap.addresses().await;
    let alice = start(dirs[1].path(), &seed).await;
    let bob = start(dirs[2].path(), &seed).await;
    let carol = start(dirs[3].path(), &seed).await;
    let (a, b, c) = (alice.user_id(), bob.user_id(), carol.user_id());
    for (node, name, other) in [
        (&alice, "bob", b),
        (&alice, "carol", c),
        (&bob, "alice", a),
        (&carol, "alice", a),
    ] {
        node.add_contact(name, other).await.unwrap();
    }
    let mut events = alice.events(crate::From::Oldest);
    assert!(matches!(
        alice.pin_chat(b, true).await,
        Err(ChatError::NoChat(_))
    ));
    for (node, text) in [(&bob, "from bob"), (&carol, "from carol")] {
        node.send(a, text).await.unwrap();
        wait_received(&mut events, text).await;
    }
    let order = |chats: &[crate::Chat]| chats.iter().map(|c| c.peer).collect::<Vec<_>>();
    assert_eq!(order(&alice.chats().await.unwrap()), [c, b], "newest first");

    alice.pin_chat(b, true).await.unwrap();
    let chats = alice.chats().await.unwrap();
    assert_eq!(order(&chats), [b, c], "pinned first");
    assert!(chats[0].pinned);

    // Muted and archived: a new message leaves it archived, still counted as unread.
    alice.mute_chat(c, Some(u64::MAX)).await.unwrap();
    alice.archive_chat(c, true).await.unwrap();
    carol.send(a, "still muted").await.unwrap();
    wait_received(&mut events, "still muted").await;
    let chat = alice
        .chats()
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.peer == c)
        .unwrap();
    assert!(chat.archived && chat.muted_until_ms == Some(u64::MAX));
    assert_eq!(chat.unread, 2);

    // Unmuted: the next message brings it back from the archive, in the same write.
    alice.mute_chat(c, None).await.unwrap();
    carol.send(a, "hello again").await.unwrap();
    wait_for(&mut events, |e| match e {
        Event::ChatChanged {
            peer,
            change: ChatChange::Unarchived,
        } if *peer == c => Some(()),
        _ => None,
    })
    .await;
    let chat = alice
        .chats()
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.peer == c)
        .unwrap();
    assert!(!chat.archived && chat.muted_until_ms.is_none());

    // Settings survive a restart.
    alice.shutdown().await;
    let alice = start(dirs[1].path(), &seed).await;
    let chats = alice.chats().await.unwrap();
    assert_eq!(order(&chats), [b, c]);
    assert!(chats[0].pinned);
    for node in [alice, bob, carol, bootstrap] {
        node.shutdown().await;
    }
}
