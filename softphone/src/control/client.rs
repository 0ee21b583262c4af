//! The client end: what `bbclient VERB` uses to reach a running softphone.
//!
//! Before it sends anything it makes sure it talks to this user's
//! softphone: the socket and its directory must be this user's and private
//! ([`check_socket`]), and the process listening must run as this user
//! (`SO_PEERCRED`, which no race on the path can fool).

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};

use bb_verbs::wire::{Event, MAX_LINE_LEN, Message, Reply, Request, RequestBody};

use super::paths::Untrusted;

/// The receiving half of a connection, whatever carries it.
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The sending half of a connection, whatever carries it.
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Why a control client could not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error("no softphone is running (nothing listens on {})", path.display())]
    NotRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket or its directory belongs to another user.
    #[error(
        "permission denied on {}: the softphone there belongs to another user \
         (run bbclient as the user who started it)",
        path.display()
    )]
    PermissionDenied {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket, its directory or the process listening on it is not this
    /// user's, or others could have replaced them: nothing was sent.
    #[error("{}", untrusted(path, why))]
    Untrusted {
        /// The socket path.
        path: PathBuf,
        /// What is wrong, where, and the fix.
        why: Untrusted,
    },
    /// Another connection error.
    #[error("cannot connect to {}: {error}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The softphone closed the connection.
    #[error("the softphone closed the connection without replying")]
    Closed,
    /// A line from the softphone was too long.
    #[error("the softphone sent a line longer than {MAX_LINE_LEN} bytes")]
    TooLong,
    /// Reading or writing failed.
    #[error("control connection failed: {0}")]
    Io(std::io::Error),
}

/// `refusing to use the control socket S: D belongs to uid 1001 (mallory),
/// …; nothing was sent (FIX)`.
fn untrusted(path: &Path, why: &Untrusted) -> String {
    let what = if why.path == path {
        "it".to_string()
    } else {
        why.path.display().to_string()
    };
    format!(
        "refusing to use the control socket {}: {what} {}; nothing was sent ({})",
        path.display(),
        why.problem,
        why.fix
    )
}

/// A connection to a running softphone.
///
/// Requests are numbered from 1; events that arrive while a reply is awaited
/// are kept for [`Client::next_event`]. Lines that are not a known message
/// (a newer softphone's event kinds) are skipped, as the protocol asks.
pub struct Client {
    reader: BufReader<BoxRead>,
    writer: BoxWrite,
    next_id: u64,
    events: VecDeque<Event>,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to the socket at `path`, once it and its directory are found
    /// to be this user's, and checks that the process listening runs as this
    /// user too (on Windows: the pipe named `path`, served by a process of
    /// this user).
    pub async fn connect(path: &Path) -> Result<Client, ClientError> {
        let (read, writer) = super::transport::connect(path).await?;
        Ok(Client {
            reader: BufReader::new(read),
            writer,
            next_id: 1,
            events: VecDeque::new(),
            buf: Vec::new(),
        })
    }

    /// Sends one request and waits for its reply. A reply with id 0 (the
    /// softphone could not read the request, or refused the connection)
    /// answers it too.
    pub async fn request(&mut self, body: RequestBody) -> Result<Reply, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = Request::new(id, body)
            .to_line()
            .map_err(|e| ClientError::Io(std::io::Error::other(e.to_string())))?;
        if let Err(e) = self.writer.write_all(line.as_bytes()).await {
            // A softphone that refused us may have hung up before we wrote;
            // its refusal line is still there to read.
            if !matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) {
                return Err(ClientError::Io(e));
            }
        }
        loop {
            match self.read_message().await? {
                Some(Message::Reply(r)) if r.id == id || r.id == 0 => return Ok(r),
                Some(Message::Reply(_)) => continue,
                Some(Message::Event(ev)) => self.events.push_back(ev),
                None => return Err(ClientError::Closed),
            }
        }
    }

    /// Subscribes this connection to the event stream.
    pub async fn subscribe(&mut self) -> Result<Reply, ClientError> {
        self.request(RequestBody::Subscribe).await
    }

    /// The next event (after [`Client::subscribe`]); [`ClientError::Closed`]
    /// when the softphone went away.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        if let Some(ev) = self.events.pop_front() {
            return Ok(ev);
        }
        loop {
            match self.read_message().await? {
                Some(Message::Event(ev)) => return Ok(ev),
                Some(Message::Reply(_)) => continue,
                None => return Err(ClientError::Closed),
            }
        }
    }

    /// The next known message; `None` at the end of the stream.
    async fn read_message(&mut self) -> Result<Option<Message>, ClientError> {
        loop {
            self.buf.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE_LEN as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .await
                .map_err(ClientError::Io)?;
            if n == 0 {
                return Ok(None);
            }
            if self.buf.len() > MAX_LINE_LEN {
                return Err(ClientError::TooLong);
            }
            let Ok(line) = std::str::from_utf8(&self.buf) else {
                continue;
            };
            if let Ok(m) = Message::from_line(line) {
                return Ok(Some(m));
            }
        }
    }
}

/// Sends one request to a running instance and waits for its reply.
pub async fn request(path: &Path, body: RequestBody) -> Result<Reply, String> {
    let mut client = Client::connect(path).await.map_err(|e| e.to_string())?;
    client.request(body).await.map_err(|e| e.to_string())
}
