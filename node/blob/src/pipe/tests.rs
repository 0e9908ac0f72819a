//! The pipes between a stream and the blocking store.

use std::io::{Read, Write};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipes_carry_every_byte_and_stop_when_either_side_does() {
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();

    // Into the blocking side: exactly `len` bytes, even when the stream has more.
    let (tx, mut reader) = super::reader();
    let read = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map(|_| out)
    });
    let mut longer = data.clone();
    longer.extend_from_slice(b"trailing");
    let forwarded = super::pump_in(&longer[..], data.len() as u64, tx)
        .await
        .unwrap();
    assert_eq!(forwarded, data.len() as u64);
    assert_eq!(read.await.unwrap().unwrap(), data);

    // Out of the blocking side, in order.
    let (mut writer, rx) = super::writer();
    let source = data.clone();
    let write = tokio::task::spawn_blocking(move || {
        for piece in source.chunks(7_777) {
            writer.write_all(piece)?;
        }
        writer.flush()
    });
    let mut out = futures::io::Cursor::new(Vec::new());
    super::pump_out(&mut out, rx).await.unwrap();
    write.await.unwrap().unwrap();
    assert_eq!(out.into_inner(), data);

    // A reader that stops (a bad group) ends the pump without error.
    let (tx, reader) = super::reader();
    drop(reader);
    let forwarded = super::pump_in(&data[..], data.len() as u64, tx)
        .await
        .unwrap();
    assert!(forwarded <= super::CHUNK as u64);
}
