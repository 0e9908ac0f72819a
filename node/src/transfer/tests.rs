//! The transfer task's parts that need no network: the windows a fetch asks for, and the
//! pipes between a stream and the blocking store.

use std::io::{Read, Write};

use tern_blob::{GroupSet, wire::MAX_RANGES};

use super::{WINDOW_GROUPS, fetch::window, pipe};

#[test]
fn a_window_is_the_first_missing_groups_within_the_range_limit() {
    assert_eq!(
        window(&GroupSet::all(10_000)),
        GroupSet::from_ranges(std::iter::once(0..WINDOW_GROUPS))
    );
    assert_eq!(window(&GroupSet::all(3)), GroupSet::all(3));
    // Ranges left by a resumed download are taken in order until the window is full.
    let holes = GroupSet::from_ranges([5..10, 20..400, 500..600]);
    assert_eq!(
        window(&holes),
        GroupSet::from_ranges([5..10, 20..(20 + WINDOW_GROUPS - 5)])
    );
    // Never more ranges than a request may hold, however scattered the holes.
    let scattered = GroupSet::from_ranges((0..200u64).map(|i| i * 2..i * 2 + 1));
    let asked = window(&scattered);
    assert_eq!(asked.ranges().len(), MAX_RANGES);
    assert!(scattered.contains_all(&asked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipes_carry_every_byte_and_stop_when_either_side_does() {
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();

    // Into the blocking side: exactly `len` bytes, even when the stream has more.
    let (tx, mut reader) = pipe::reader();
    let read = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map(|_| out)
    });
    let mut longer = data.clone();
    longer.extend_from_slice(b"trailing");
    let forwarded = pipe::pump_in(&longer[..], data.len() as u64, tx)
        .await
        .unwrap();
    assert_eq!(forwarded, data.len() as u64);
    assert_eq!(read.await.unwrap().unwrap(), data);

    // Out of the blocking side, in order.
    let (mut writer, rx) = pipe::writer();
    let source = data.clone();
    let write = tokio::task::spawn_blocking(move || {
        for piece in source.chunks(7_777) {
            writer.write_all(piece)?;
        }
        writer.flush()
    });
    let mut out = futures::io::Cursor::new(Vec::new());
    pipe::pump_out(&mut out, rx).await.unwrap();
    write.await.unwrap().unwrap();
    assert_eq!(out.into_inner(), data);

    // A reader that stops (a bad group) ends the pump without error.
    let (tx, reader) = pipe::reader();
    drop(reader);
    let forwarded = pipe::pump_in(&data[..], data.len() as u64, tx)
        .await
        .unwrap();
    assert!(forwarded <= pipe::CHUNK as u64);
}
