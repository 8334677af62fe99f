//! Turning a stream of token bytes into text: characters split across
//! tokens are held until they are whole, and text that may be the start of a
//! stop sequence is held until it is known not to be one.

/// Bytes in, whole UTF-8 text out. Invalid bytes become U+FFFD, as
/// `String::from_utf8_lossy` would, without losing a character that a later
/// token completes.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Add a token's bytes; returns the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // An invalid sequence: replace it and go on.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        // An incomplete character at the end: wait for more.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// The end of the stream: an incomplete character left is replaced.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// Finds the first stop sequence in streamed text. Text is released as soon
/// as no stop sequence can start inside it, so a stop sequence never reaches
/// the caller, even split across tokens.
#[derive(Debug)]
pub struct StopFilter {
    stops: Vec<String>,
    held: String,
}

/// What the filter let through.
#[derive(Debug, PartialEq, Eq)]
pub struct Released {
    pub text: String,
    /// A stop sequence was found: `text` ends just before it and generation
    /// should end.
    pub stopped: bool,
}

impl StopFilter {
    pub fn new(stops: &[String]) -> Self {
        Self { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), held: String::new() }
    }

    pub fn push(&mut self, text: &str) -> Released {
        self.held.push_str(text);
        let first = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min();
        if let Some(at) = first {
            let text = self.held[..at].to_owned();
            self.held.clear();
            return Released { text, stopped: true };
        }
        // Hold the longest tail that is a proper prefix of a stop sequence.
        let keep = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                let tail = &self.held[i..];
                self.stops.iter().any(|s| s.len() > tail.len() && s.starts_with(tail))
            })
            .unwrap_or(self.held.len());
        let text = self.held[..keep].to_owned();
        self.held.drain(..keep);
        Released { text, stopped: false }
    }

    /// The end of the stream: whatever was held is text after all.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_across_tokens_are_joined() {
        let mut s = Utf8Stream::default();
        let bytes = "é中🦀".as_bytes();
        let mut out = String::new();
        for b in bytes {
            out.push_str(&s.push(&[*b]));
        }
        out.push_str(&s.finish());
        assert_eq!(out, "é中🦀");
        assert_eq!(s.push(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(s.push(b"\xe4\xb8"), "");
        assert_eq!(s.finish(), "\u{fffd}");
    }

    #[test]
    fn stop_sequences_are_cut_even_when_split() {
        let stops = vec!["<|im_end|>".to_owned(), "\n###".to_owned()];
        let mut f = StopFilter::new(&stops);
        assert_eq!(f.push("def f():"), Released { text: "def f():".into(), stopped: false });
        assert_eq!(f.push(" pass<|im"), Released { text: " pass".into(), stopped: false });
        assert_eq!(f.push("_end|> more"), Released { text: String::new(), stopped: true });
        let mut f = StopFilter::new(&stops);
        assert_eq!(f.push("a\n#"), Released { text: "a".into(), stopped: false });
        assert_eq!(f.push(" b"), Released { text: "\n# b".into(), stopped: false });
        assert_eq!(f.push("<"), Released { text: String::new(), stopped: false });
        assert_eq!(f.finish(), "<");
    }

    #[test]
    fn no_stops_releases_everything() {
        let mut f = StopFilter::new(&[String::new()]);
        assert_eq!(f.push("x<|"), Released { text: "x<|".into(), stopped: false });
    }
}
