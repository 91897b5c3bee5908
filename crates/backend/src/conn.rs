//! Connection admission: at most N open connections per client address.
//!
//! Each accepted TCP stream carries a guard that counts it against its peer's
//! IP address until it closes. A client over the limit has its new connection
//! closed at once, before a byte is read, so one address cannot hold the
//! server's sockets or memory. Together with the header and body read
//! timeouts, a stalled connection costs a bounded time and a bounded count.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The acceptor: admits a connection if its address has room.
#[derive(Clone)]
pub struct ClientLimit {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    refused: Counter,
}

impl ClientLimit {
    pub fn new(max: usize, refused: Counter) -> Self {
        ClientLimit { max: max.max(1), open: Arc::default(), refused }
    }

    fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot { ip, open: self.open.clone() })
    }

    /// Open connections of `ip` now (for tests and metrics).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).get(&ip).copied().unwrap_or(0)
    }
}

/// One admitted connection's place in the count; freed when the stream drops.
struct Slot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl<S> Accept<TcpStream, S> for ClientLimit {
    type Stream = Admitted;
    type Service = S;
    type Future = Ready<io::Result<(Admitted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let ip = match stream.peer_addr() {
            Ok(addr) => addr.ip(),
            Err(e) => return ready(Err(e)),
        };
        match self.admit(ip) {
            Some(slot) => {
                // Small request/response pairs: do not wait for Nagle.
                let _ = stream.set_nodelay(true);
                ready(Ok((Admitted { stream, _slot: slot }, service)))
            }
            None => {
                self.refused.inc();
                tracing::warn!(client = %ip, limit = self.max, "connection refused: too many open connections from this address");
                ready(Err(io::Error::other("too many connections from this client")))
            }
        }
    }
}

/// An admitted TCP stream.
pub struct Admitted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Admitted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_frees_on_drop() {
        let limit = ClientLimit::new(2, Counter::default());
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let first = limit.admit(a).expect("first");
        let _second = limit.admit(a).expect("second");
        assert!(limit.admit(a).is_none(), "a third from the same address is refused");
        let _other = limit.admit(b).expect("another address has its own room");
        drop(first);
        assert_eq!(limit.open_from(a), 1);
        assert!(limit.admit(a).is_some(), "a closed connection frees its slot");
    }
}
