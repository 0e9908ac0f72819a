//! Files: sending them, fetching them and handing them out once they verified.

use std::io::{Read, Seek};

use tern_blob::{
    Capability, Descriptor,
    descriptor::{self, BlobRef, Body, Kind, Location, LocationKind},
    store::CiphertextReader,
    stream::DecryptReader,
};

use super::*;
use crate::{
    attachment::{OutgoingFile, Source},
    core::{Held, OutgoingFile as Staged, RelayTarget, UploadPlan},
    error::AttachmentError,
    view::{ChatId, FileEntry},
};

/// A received or sent file, decrypted as it is read ([`Node::open_attachment`]). Every
/// 64 KiB chunk is authenticated before its bytes come out; it seeks, for range requests.
pub struct AttachmentReader {
    inner: Box<dyn ReadSeek + Send>,
    len: u64,
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

impl AttachmentReader {
    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for AttachmentReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentReader")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Read for AttachmentReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Seek for AttachmentReader {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl Node {
    /// Sends the file at `path` to `chat` (an account, or a group's id: [`ChatId`]), with a
    /// caption (which may be empty). Returns once the message is durable in the outbox, as
    /// [`Node::send`] does; the recipient then fetches the file from this device, verifying
    /// every 16 KiB against its root. A group's file goes once to each of the group's
    /// sequencer relays instead, which every member reads: the sender's upload does not
    /// grow with the group, and the upload resumes after a restart.
    ///
    /// ```no_run
    /// # async fn f(node: tern_node::Node, bob: tern_node::UserId, family: tern_node::GroupId) -> Result<(), Box<dyn std::error::Error>> {
    /// let id = node.send_file(bob, "report.pdf", "the numbers for March").await?;
    /// let id = node.send_file(family, "beach.jpg", "we made it").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_file(
        &self,
        chat: impl Into<ChatId>,
        path: impl AsRef<Path>,
        caption: impl Into<String>,
    ) -> Result<MessageId, AttachmentError> {
        self.send_attachment(chat, OutgoingFile::from_path(path), caption)
            .await
    }

    /// Sends `file` to `chat` with a caption (which may be empty). Files up to 200 KiB
    /// travel inside the message; larger ones are encrypted into this device's file store
    /// under a fresh key, and the message carries their root, key and a read capability.
    pub async fn send_attachment(
        &self,
        chat: impl Into<ChatId>,
        file: OutgoingFile,
        caption: impl Into<String>,
    ) -> Result<MessageId, AttachmentError> {
        let chat = chat.into();
        let (name, mime, kind, preview, source) = file.into_parts();
        let blobs = self.inner.blobs.clone();
        let device = self.inner.net.peer_id().to_bytes();
        let import = tokio::task::spawn_blocking(move || {
            prepare(&blobs, device, (name, mime, kind.into(), preview), source)
        });
        // Where copies go, found while the file encrypts.
        let (staged, places) = tokio::join!(import, self.file_places(chat));
        let mut staged = staged.map_err(|e| AttachmentError::File(e.to_string()))??;
        let sent = async {
            match places? {
                Places::Contact(None) => {}
                Places::Contact(Some((relays, mailbox))) => name_locations(
                    &mut staged,
                    relays,
                    *mailbox.as_bytes(),
                    Holder::DeviceThenRelays,
                )?,
                Places::Group(target) => {
                    if staged.grant.is_some() && target.sequencers.is_empty() {
                        return Err(AttachmentError::Group(crate::GroupError::NoRelays));
                    }
                    name_locations(&mut staged, target.sequencers, target.log, Holder::Relays)?;
                }
            }
            let compose = Compose::File {
                file: staged.clone(),
                caption: caption.into(),
                reply_to: None,
            };
            self.compose(chat, compose).await
        }
        .await;
        if sent.is_err()
            && let Some((root, _)) = staged.grant
        {
            // Nothing names the blob: it goes (or the next start sweeps it).
            let blobs = self.inner.blobs.clone();
            let _ = tokio::task::spawn_blocking(move || blobs.delete(&root)).await;
        }
        sent
    }

    /// Where the copies of a file for `chat` go: a contact's relays, should it be offline
    /// (from the record the core holds, else looked up), or a group's sequencers.
    async fn file_places(&self, chat: ChatId) -> Result<Places, AttachmentError> {
        match chat {
            ChatId::Peer(peer) => Ok(Places::Contact(self.relay_target(peer).await)),
            ChatId::Group(group) => Ok(Places::Group(
                self.call::<_, AttachmentError>(|reply| {
                    Request::Group(crate::core::GroupRequest::FileTarget { group, reply })
                })
                .await?,
            )),
        }
    }

    /// The recipient's mailbox relays and mailbox: from the record the core holds, else
    /// looked up (within [`RELAY_LOOKUP`]).
    async fn relay_target(&self, peer: UserId) -> Option<RelayTarget> {
        let (reply, answer) = oneshot::channel();
        if self
            .inner
            .requests
            .send(Request::RelayTarget { peer, reply })
            .await
            .is_ok()
            && let Ok(Some(known)) = answer.await
        {
            return known;
        }
        let found = tokio::time::timeout(RELAY_LOOKUP, self.inner.net.lookup(peer))
            .await
            .ok()?
            .ok()?;
        let record = found.record;
        (!record.relays.is_empty()).then(|| (record.relays, record.bundle.mailbox().id()))
    }

    /// Starts fetching the file of message `id` (one larger than the auto-download limit,
    /// from a message request, or one whose fetch failed). Returns its state: `Ready` when
    /// it is already here, else `Fetching`; [`Event::AttachmentChanged`] tells the end.
    ///
    /// `chat` is the account of a 1:1 chat or a group's id ([`crate::ChatId`]); a group's
    /// files come from its sequencer relays.
    pub async fn fetch_attachment(
        &self,
        chat: impl Into<ChatId>,
        id: MessageId,
    ) -> Result<crate::AttachmentState, AttachmentError> {
        let chat = chat.into();
        self.call(|reply| Request::FetchAttachment { chat, id, reply })
            .await
    }

    /// Opens the file of message `id` for reading, decrypted as it is read. Only a file that
    /// verified in full is handed out: otherwise [`AttachmentError::NotReady`].
    pub async fn open_attachment(
        &self,
        chat: impl Into<ChatId>,
        id: MessageId,
    ) -> Result<AttachmentReader, AttachmentError> {
        let held: Held = self
            .call::<Held, AttachmentError>(|reply| Request::HeldFile {
                chat: chat.into(),
                id,
                reply,
            })
            .await?;
        if !held.ready {
            return Err(AttachmentError::NotReady);
        }
        let blobs = self.inner.blobs.clone();
        tokio::task::spawn_blocking(move || reader(&blobs, &held.descriptor))
            .await
            .map_err(|e| AttachmentError::File(e.to_string()))?
    }

    /// Opens plaintext bytes `range` of the file of message `id` (clamped to the file),
    /// decrypted as they are read: also while the file is still on its way, as soon as every
    /// 16 KiB group under the range has verified against the file's root and is on disk. A
    /// player starts on the first verified bytes before the rest arrives; every 64 KiB chunk
    /// is authenticated again as it is read. [`AttachmentError::NotReady`] while part of the
    /// range has not arrived ([`Event::AttachmentProgress`] says when more has);
    /// [`AttachmentError::BadRange`] when it starts past the end.
    ///
    /// ```no_run
    /// # async fn f(node: tern_node::Node, alice: tern_node::UserId, id: tern_node::MessageId) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::Read;
    /// // The first second or so of a video, to start playing.
    /// let mut head = Vec::new();
    /// node.open_attachment_range(alice, id, 0..512 * 1024).await?.read_to_end(&mut head)?;
    /// # Ok(()) }
    /// ```
    pub async fn open_attachment_range(
        &self,
        chat: impl Into<ChatId>,
        id: MessageId,
        range: std::ops::Range<u64>,
    ) -> Result<AttachmentReader, AttachmentError> {
        let held: Held = self
            .call::<Held, AttachmentError>(|reply| Request::HeldFile {
                chat: chat.into(),
                id,
                reply,
            })
            .await?;
        let blobs = self.inner.blobs.clone();
        tokio::task::spawn_blocking(move || range_reader(blobs, &held.descriptor, range))
            .await
            .map_err(|e| AttachmentError::File(e.to_string()))?
    }

    /// The preview the sender put in the message of file `id`: a thumbnail and a voice
    /// note's waveform, either of which may be absent. Here as soon as the message is,
    /// whether or not the file is.
    pub async fn attachment_preview(
        &self,
        chat: impl Into<ChatId>,
        id: MessageId,
    ) -> Result<crate::Preview, AttachmentError> {
        let held: Held = self
            .call::<Held, AttachmentError>(|reply| Request::HeldFile {
                chat: chat.into(),
                id,
                reply,
            })
            .await?;
        let descriptor = Descriptor::from_bytes(&held.descriptor)
            .map_err(|e| AttachmentError::File(format!("the stored file is damaged: {e}")))?;
        Ok(crate::Preview {
            thumbnail: descriptor.thumbnail,
            waveform: descriptor.waveform,
        })
    }

    /// Writes the file of message `id` to `path` (through a temporary file beside it, renamed
    /// once complete, so `path` never holds part of a file). Returns its length.
    pub async fn save_attachment(
        &self,
        chat: impl Into<ChatId>,
        id: MessageId,
        path: impl AsRef<Path>,
    ) -> Result<u64, AttachmentError> {
        let mut file = self.open_attachment(chat, id).await?;
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || {
            let file_error = |e: std::io::Error| AttachmentError::File(e.to_string());
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
                _ => PathBuf::from("."),
            };
            let mut out = tempfile::NamedTempFile::new_in(&dir).map_err(file_error)?;
            let len = std::io::copy(&mut file, &mut out).map_err(file_error)?;
            out.as_file().sync_all().map_err(file_error)?;
            out.persist(&path).map_err(|e| file_error(e.error))?;
            Ok(len)
        })
        .await
        .map_err(|e| AttachmentError::File(e.to_string()))?
    }

    /// The files of every conversation, groups included, or of one (an account or a
    /// group, [`ChatId`]), newest first (at most 1,000).
    pub async fn attachments(&self, chat: Option<ChatId>) -> Result<Vec<FileEntry>, QueryError> {
        self.call(|reply| Request::Attachments { chat, reply })
            .await
    }
}

/// How long sending a file waits for the recipient's record, when the node holds none, to
/// name its relays in the descriptor. The file's encryption usually takes longer.
const RELAY_LOOKUP: Duration = Duration::from_secs(10);

/// Where the copies of a file go (see [`Node::file_places`]).
enum Places {
    /// The contact's mailbox relays, if its record is known.
    Contact(Option<RelayTarget>),
    /// The group's sequencers, under its log's quota.
    Group(crate::core::GroupFileTarget),
}

/// Who holds a blob for its readers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// This device, and the recipient's relays if the recipient is offline (1:1).
    DeviceThenRelays,
    /// The relays alone: a group's sequencers, which every member reads.
    Relays,
}

/// Names `relays` (at most [`MAX_RELAY_LOCATIONS`]) in a blob's descriptor, each with a
/// fresh capability, and plans the copies that go there, counted against `quota` (the
/// recipient's mailbox, or the group's log). An inline file needs none.
fn name_locations(
    staged: &mut Staged,
    relays: Vec<(libp2p::PeerId, Vec<Multiaddr>)>,
    quota: [u8; 32],
    holder: Holder,
) -> Result<(), AttachmentError> {
    let Some(_) = staged.grant else {
        return Ok(());
    };
    let describe_error =
        |e: &dyn std::fmt::Display| AttachmentError::File(format!("cannot describe the file: {e}"));
    let mut descriptor =
        Descriptor::from_bytes(&staged.descriptor).map_err(|e| describe_error(&e))?;
    let Body::Blob(blob) = &mut descriptor.body else {
        return Ok(());
    };
    let mut rng = UnwrapErr(getrandom::SysRng);
    let mut planned = Vec::new();
    if holder == Holder::Relays {
        blob.locations.clear();
    }
    for (relay, addresses) in relays.into_iter().take(MAX_RELAY_LOCATIONS) {
        let capability = Capability::generate(&mut rng);
        blob.locations.push(Location {
            kind: LocationKind::Relay,
            peer: relay.to_bytes(),
            capability: capability.clone(),
        });
        planned.push((relay, addresses, *capability.as_bytes()));
    }
    staged.upload = Some(UploadPlan::new(blob.ciphertext_len, quota, planned));
    staged.descriptor = descriptor.to_bytes().map_err(|e| describe_error(&e))?;
    Ok(())
}

/// Relay locations a descriptor names at most: a record lists three relays.
const MAX_RELAY_LOCATIONS: usize = 3;

/// Reads the file, encrypts it into the store when it is too large to travel inline, and
/// builds its descriptor.
fn prepare(
    blobs: &tern_blob::store::Store,
    device: Vec<u8>,
    (name, mime, kind, preview): (String, String, Kind, crate::Preview),
    source: Source,
) -> Result<Staged, AttachmentError> {
    let file_error = |e: std::io::Error| AttachmentError::File(e.to_string());
    let (reader, len) = OutgoingFile::open(source).map_err(file_error)?;
    // Read what fits inline; a longer file continues from there.
    let mut head = Vec::new();
    let mut reader = reader;
    (&mut reader)
        .take(descriptor::MAX_INLINE_LEN + 1)
        .read_to_end(&mut head)
        .map_err(file_error)?;
    let fits = |len: u64, kind: Kind| {
        if len <= kind.max_len() {
            Ok(kind)
        } else if len <= Kind::Document.max_len() {
            // A long video is still a file people can send: as a document.
            Ok(Kind::Document)
        } else {
            Err(AttachmentError::TooLarge {
                len,
                max: Kind::Document.max_len(),
            })
        }
    };
    let describe = |kind: Kind, body: Body| {
        use tern_blob::descriptor::DescriptorError;
        Descriptor {
            kind,
            mime: mime.clone(),
            name: name.clone(),
            thumbnail: preview.thumbnail.clone(),
            waveform: preview.waveform.clone(),
            body,
        }
        .to_bytes()
        .map_err(|e| match e {
            DescriptorError::Thumbnail | DescriptorError::Waveform { .. } => {
                AttachmentError::BadPreview(e.to_string())
            }
            e => AttachmentError::File(format!("cannot describe the file: {e}")),
        })
    };
    // A bad name, type or preview is refused before a large file is encrypted.
    describe(kind, Body::Inline(Vec::new()))?;
    if head.len() as u64 <= descriptor::MAX_INLINE_LEN {
        let kind = fits(head.len() as u64, kind)?;
        return Ok(Staged {
            descriptor: describe(kind, Body::Inline(head))?,
            name,
            grant: None,
            upload: None,
        });
    }
    if let Some(len) = len {
        fits(len, kind)?;
    }
    let mut rng = UnwrapErr(getrandom::SysRng);
    let input = std::io::Cursor::new(head).chain(reader);
    let imported = match len {
        Some(len) => blobs.import(&mut rng, input, len),
        None => blobs
            .import_stream(&mut rng, input)
            .map(|(imported, _)| imported),
    }
    .map_err(|e| AttachmentError::File(e.to_string()))?;
    let root = imported.blob.root();
    let lengths = imported.lengths;
    let kind = match fits(lengths.plaintext(), kind) {
        Ok(kind) => kind,
        Err(e) => {
            let _ = blobs.delete(&root);
            return Err(e);
        }
    };
    let capability = Capability::generate(&mut rng);
    let grant = (root, *capability.as_bytes());
    let body = Body::Blob(BlobRef {
        root,
        plaintext_len: lengths.plaintext(),
        padded_len: lengths.padded(),
        ciphertext_len: lengths.ciphertext(),
        key: imported.key,
        locations: vec![Location {
            kind: LocationKind::Device,
            peer: device,
            capability,
        }],
    });
    match describe(kind, body) {
        Ok(descriptor) => Ok(Staged {
            descriptor,
            name,
            grant: Some(grant),
            upload: None,
        }),
        Err(e) => {
            let _ = blobs.delete(&root);
            Err(e)
        }
    }
}

/// A decrypting reader over plaintext bytes `range` of a stored file, complete or not.
fn range_reader(
    blobs: tern_blob::store::Store,
    descriptor: &[u8],
    range: std::ops::Range<u64>,
) -> Result<AttachmentReader, AttachmentError> {
    let damaged = |what: &str| AttachmentError::File(format!("the stored file is damaged: {what}"));
    let descriptor = Descriptor::from_bytes(descriptor).map_err(|e| damaged(&e.to_string()))?;
    let len = descriptor.plaintext_len();
    if range.start >= len && !(range.start == 0 && len == 0) {
        return Err(AttachmentError::BadRange {
            start: range.start,
            len,
        });
    }
    let range = range.start..range.end.clamp(range.start, len);
    match descriptor.body {
        Body::Inline(bytes) => {
            let bytes = bytes[range.start as usize..range.end as usize].to_vec();
            Ok(AttachmentReader {
                len: bytes.len() as u64,
                inner: Box::new(std::io::Cursor::new(bytes)),
            })
        }
        Body::Blob(blob) => {
            let lengths =
                tern_blob::Lengths::check(blob.plaintext_len, blob.padded_len, blob.ciphertext_len)
                    .ok_or_else(|| damaged("impossible lengths"))?;
            let mut reader = RangeReader {
                blobs,
                root: blob.root,
                key: blob.key,
                lengths,
                range: range.clone(),
                pos: 0,
                inner: None,
            };
            // Refused now rather than on the first read.
            reader.open().map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock => AttachmentError::NotReady,
                _ => damaged(&e.to_string()),
            })?;
            Ok(AttachmentReader {
                len: range.end - range.start,
                inner: Box::new(reader),
            })
        }
    }
}

/// Plaintext bytes `range` of a blob, from whatever of it has verified: reopened (from the
/// store, beside a fetch that may still be writing) where a seek lands.
struct RangeReader {
    blobs: tern_blob::store::Store,
    root: tern_blob::Root,
    key: tern_blob::FileKey,
    lengths: tern_blob::Lengths,
    range: std::ops::Range<u64>,
    /// Position within `range`.
    pos: u64,
    inner: Option<std::io::Take<DecryptReader<CiphertextReader>>>,
}

impl RangeReader {
    /// Starts decrypting at `pos`: `WouldBlock` while the bytes there have not verified.
    fn open(&mut self) -> std::io::Result<()> {
        let at = self.range.start + self.pos;
        let (chunk, bytes) = self.lengths.chunks_for(at..self.range.end);
        let ciphertext = self
            .blobs
            .verified_ciphertext(&self.root, bytes)
            .map_err(std::io::Error::other)?
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::WouldBlock, "not verified yet")
            })?;
        let mut plaintext = DecryptReader::starting_at(&self.key, self.lengths, ciphertext, chunk);
        let skip = at - chunk * tern_blob::stream::CHUNK_LEN;
        std::io::copy(&mut (&mut plaintext).take(skip), &mut std::io::sink())?;
        self.inner = Some(plaintext.take(self.range.end - at));
        Ok(())
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.range.start + self.pos >= self.range.end {
            return Ok(0);
        }
        if self.inner.is_none() {
            self.open()?;
        }
        let n = self.inner.as_mut().map_or(Ok(0), |inner| inner.read(buf))?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let len = self.range.end - self.range.start;
        let target = match to {
            std::io::SeekFrom::Start(at) => Some(at),
            std::io::SeekFrom::End(delta) => len.checked_add_signed(delta),
            std::io::SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        }
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        if target != self.pos {
            self.pos = target;
            self.inner = None;
        }
        Ok(target)
    }
}

/// A decrypting reader over a stored file.
fn reader(
    blobs: &tern_blob::store::Store,
    descriptor: &[u8],
) -> Result<AttachmentReader, AttachmentError> {
    let damaged = |what: &str| AttachmentError::File(format!("the stored file is damaged: {what}"));
    let descriptor = Descriptor::from_bytes(descriptor).map_err(|e| damaged(&e.to_string()))?;
    match descriptor.body {
        Body::Inline(bytes) => Ok(AttachmentReader {
            len: bytes.len() as u64,
            inner: Box::new(std::io::Cursor::new(bytes)),
        }),
        Body::Blob(blob) => {
            let complete = blobs
                .complete(&blob.root)
                .map_err(|e| damaged(&e.to_string()))?
                .ok_or(AttachmentError::NotReady)?;
            let plaintext = complete
                .plaintext(&blob.key, blob.plaintext_len)
                .map_err(|e| damaged(&e.to_string()))?;
            Ok(AttachmentReader {
                len: blob.plaintext_len,
                inner: Box::new(plaintext),
            })
        }
    }
}
