//! Ports as the matrix writes them: `TCP/443`, `UDP/53`, `TCP/30000-32767`.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

/// A transport protocol a NetworkPolicy port can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// A Kubernetes `protocol` field (absent means TCP).
    pub fn from_k8s(value: Option<&str>) -> Option<Protocol> {
        match value.unwrap_or("TCP").to_ascii_uppercase().as_str() {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

/// One port or an inclusive range of one protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub protocol: Protocol,
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// The NetworkPolicy `ports` entry for this range.
    pub fn to_k8s(&self) -> Value {
        if self.first == self.last {
            json!({ "protocol": self.protocol.as_str(), "port": self.first })
        } else {
            json!({ "protocol": self.protocol.as_str(), "port": self.first, "endPort": self.last })
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}/{}", self.protocol.as_str(), self.first)
        } else {
            write!(f, "{}/{}-{}", self.protocol.as_str(), self.first, self.last)
        }
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hint = "write PROTOCOL/PORT or PROTOCOL/FIRST-LAST, e.g. \"TCP/443\", \"UDP/53\", \"TCP/30000-32767\"";
        let (proto, ports) =
            text.split_once('/').ok_or_else(|| format!("port {text:?} has no protocol: {hint}"))?;
        let protocol = match proto {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            _ => {
                return Err(format!(
                    "port {text:?}: unknown protocol {proto:?} (TCP, UDP or SCTP; upper case)"
                ));
            }
        };
        let number = |s: &str| -> Result<u16, String> {
            match s.parse::<u16>() {
                Ok(n) if n > 0 && !s.starts_with('0') => Ok(n),
                _ => Err(format!("port {text:?}: {s:?} is not a port number 1-65535: {hint}")),
            }
        };
        let (first, last) = match ports.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(ports)?;
                (n, n)
            }
        };
        if last < first {
            return Err(format!("port {text:?}: the range ends before it starts"));
        }
        Ok(PortRange { protocol, first, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ports_and_ranges() {
        let p: PortRange = "TCP/443".parse().expect("valid");
        assert_eq!((p.protocol, p.first, p.last), (Protocol::Tcp, 443, 443));
        assert_eq!(p.to_string(), "TCP/443");
        assert_eq!(p.to_k8s(), json!({"protocol": "TCP", "port": 443}));
        let r: PortRange = "UDP/30000-32767".parse().expect("valid");
        assert_eq!(r.to_k8s(), json!({"protocol": "UDP", "port": 30000, "endPort": 32767}));
    }

    #[test]
    fn rejects_bad_ports_with_the_fix() {
        for (text, needle) in [
            ("443", "no protocol"),
            ("tcp/443", "unknown protocol"),
            ("TCP/0", "not a port number"),
            ("TCP/70000", "not a port number"),
            ("TCP/080", "not a port number"),
            ("TCP/20-10", "ends before it starts"),
        ] {
            let err = text.parse::<PortRange>().expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
