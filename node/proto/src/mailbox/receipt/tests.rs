use super::*;

fn relay() -> (libp2p::identity::Keypair, Vec<u8>) {
    let keypair = libp2p::identity::Keypair::ed25519_from_bytes([9u8; 32]).unwrap();
    let id = keypair.public().to_peer_id().to_bytes();
    (keypair, id)
}

fn envelope(i: usize) -> Vec<u8> {
    vec![i as u8; 100]
}

fn batch(size: usize) -> CustodyBatch {
    CustodyBatch::new(
        (0..size)
            .map(|i| Custody::of([7; 32], &envelope(i), i as u64, 1_800_000_000))
            .collect(),
    )
}

fn receipt_of(batch: &CustodyBatch, index: usize) -> CustodyReceipt {
    let (keypair, relay) = relay();
    batch.receipt(index, &keypair.public().encode_protobuf(), &relay, |m| {
        keypair.sign(m).unwrap()
    })
}

fn mailbox() -> MailboxId {
    MailboxId::from_bytes([7; 32])
}

/// The tree hash straight from RFC 9162's recursive definition, to check the builder.
fn tree_hash(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let mut k = 1;
    while k * 2 < leaves.len() {
        k *= 2;
    }
    node(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
}

#[test]
fn every_deposit_of_every_batch_size_verifies() {
    let (_, relay) = relay();
    for size in 1..=70 {
        let batch = batch(size);
        let roots = VerifiedRoots::default();
        for index in 0..size {
            let receipt = receipt_of(&batch, index);
            assert_eq!(receipt.batch_size as usize, size);
            let alone = receipt.verify(&relay, &mailbox(), &envelope(index));
            assert_eq!(alone, Ok(()), "size {size}, index {index}");
            let cached = receipt.verify_with(&relay, &mailbox(), &envelope(index), &roots);
            assert_eq!(cached, Ok(()), "size {size}, index {index}");
        }
    }
}

#[test]
fn the_root_is_rfc_9162s_tree_hash() {
    for size in 1..=40 {
        let custodies: Vec<Custody> = (0..size)
            .map(|i| Custody::of([7; 32], &envelope(i), i as u64, 1_800_000_000))
            .collect();
        let leaves: Vec<[u8; 32]> = custodies.iter().map(Custody::leaf).collect();
        let mut paths = vec![Vec::new(); size];
        assert_eq!(
            build(&leaves, &mut paths),
            tree_hash(&leaves),
            "size {size}"
        );
        for (index, path) in paths.iter().enumerate() {
            assert_eq!(
                root_from_path(index as u32, size as u32, leaves[index], path),
                Some(tree_hash(&leaves)),
                "size {size}, index {index}"
            );
        }
    }
    // Pinned: five 100-byte envelopes of bytes 0..5 for mailbox [7; 32], ids 0..5, stored at
    // 1,800,000,000 (computed independently with Python's hashlib).
    let leaves: Vec<[u8; 32]> = (0..5)
        .map(|i| Custody::of([7; 32], &envelope(i), i as u64, 1_800_000_000).leaf())
        .collect();
    assert_eq!(
        hex::encode(tree_hash(&leaves)),
        "cfff58a7e1b29c86d8bec0b7deb9e572172468265332e876f399a79bcf673758"
    );
}

#[test]
fn a_receipt_whose_path_does_not_verify_is_refused() {
    let (_, relay) = relay();
    let batch = batch(13);
    let good = receipt_of(&batch, 6);

    let mut tampered = good.clone();
    tampered.path[1][0] ^= 1;
    assert_eq!(
        tampered.verify(&relay, &mailbox(), &envelope(6)),
        Err(ReceiptError::BadSignature),
        "another path leads to another root, which the relay did not sign"
    );
    let mut moved = good.clone();
    moved.index = 7;
    assert_eq!(
        moved.verify(&relay, &mailbox(), &envelope(6)),
        Err(ReceiptError::BadSignature)
    );
    let mut longer = good.clone();
    longer.path.push([0; 32]);
    assert_eq!(
        longer.verify(&relay, &mailbox(), &envelope(6)),
        Err(ReceiptError::BadPath)
    );
    let mut shorter = good.clone();
    shorter.path.pop();
    assert_eq!(
        shorter.verify(&relay, &mailbox(), &envelope(6)),
        Err(ReceiptError::BadPath)
    );
    let mut outside = good.clone();
    outside.index = 13;
    assert_eq!(
        outside.verify(&relay, &mailbox(), &envelope(6)),
        Err(ReceiptError::BadPath)
    );
    let mut huge = good.clone();
    huge.batch_size = u32::MAX;
    assert_eq!(
        huge.verify(&relay, &mailbox(), &envelope(6)),
        Err(ReceiptError::BadPath)
    );
    // A remembered root does not excuse a wrong path.
    let roots = VerifiedRoots::default();
    assert_eq!(
        good.verify_with(&relay, &mailbox(), &envelope(6), &roots),
        Ok(())
    );
    assert_eq!(
        tampered.verify_with(&relay, &mailbox(), &envelope(6), &roots),
        Err(ReceiptError::BadSignature)
    );
}

#[test]
fn a_batch_whose_root_is_forged_is_refused() {
    let (keypair, relay) = relay();
    let genuine = receipt_of(&batch(4), 2);
    // A tree of deposits the relay never took, under the genuine batch's signature.
    let forged_batch = CustodyBatch::new(
        (0..4)
            .map(|i| Custody::of([7; 32], &envelope(i + 10), i as u64, 1_800_000_000))
            .collect(),
    );
    let mut forged = forged_batch.receipt(2, &keypair.public().encode_protobuf(), &relay, |_| {
        genuine.signature.clone()
    });
    assert_eq!(
        forged.verify(&relay, &mailbox(), &envelope(12)),
        Err(ReceiptError::BadSignature)
    );
    // Signed by another key, presented as this relay's.
    let mallory = libp2p::identity::Keypair::generate_ed25519();
    forged = forged_batch.receipt(2, &mallory.public().encode_protobuf(), &relay, |m| {
        mallory.sign(m).unwrap()
    });
    assert_eq!(
        forged.verify(&relay, &mailbox(), &envelope(12)),
        Err(ReceiptError::WrongRelay)
    );
    // A genuine receipt, for another relay, envelope or mailbox.
    let other = libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id()
        .to_bytes();
    assert_eq!(
        genuine.verify(&other, &mailbox(), &envelope(2)),
        Err(ReceiptError::WrongRelay)
    );
    assert_eq!(
        genuine.verify(&relay, &mailbox(), &envelope(3)),
        Err(ReceiptError::WrongEnvelope)
    );
    assert_eq!(
        genuine.verify(&relay, &MailboxId::from_bytes([8; 32]), &envelope(2)),
        Err(ReceiptError::WrongEnvelope)
    );
    // A changed field changes the leaf, and so the root.
    for change in [
        |r: &mut CustodyReceipt| r.stored_at += 1,
        |r: &mut CustodyReceipt| r.id += 1,
    ] {
        let mut changed = genuine.clone();
        change(&mut changed);
        assert_eq!(
            changed.verify(&relay, &mailbox(), &envelope(2)),
            Err(ReceiptError::BadSignature)
        );
    }
}

#[test]
fn a_remembered_root_skips_only_its_own_relays_signature() {
    let (_, relay) = relay();
    let batch = batch(8);
    let roots = VerifiedRoots::default();
    assert_eq!(
        receipt_of(&batch, 0).verify_with(&relay, &mailbox(), &envelope(0), &roots),
        Ok(())
    );
    // The signature is not checked again for the same root...
    let mut unsigned = receipt_of(&batch, 5);
    unsigned.signature = vec![0; 64];
    assert_eq!(
        unsigned.verify_with(&relay, &mailbox(), &envelope(5), &roots),
        Ok(())
    );
    // ...but it is for the same root claimed for another relay.
    let other = libp2p::identity::Keypair::generate_ed25519();
    let mut elsewhere = receipt_of(&batch, 5);
    elsewhere.relay_key = other.public().encode_protobuf();
    let other_id = other.public().to_peer_id().to_bytes();
    assert_eq!(
        elsewhere.verify_with(&other_id, &mailbox(), &envelope(5), &roots),
        Err(ReceiptError::BadSignature)
    );
}
