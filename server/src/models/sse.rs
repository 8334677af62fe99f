//! A small incremental parser for `text/event-stream` bodies (the subset the
//! model servers use: `data:` and `event:` fields, comments, blank-line
//! dispatch). Bytes may arrive split anywhere, even inside a UTF-8 character.

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; empty for the default `message` event.
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    current: SseEvent,
    has_data: bool,
}

impl SseParser {
    /// Feed a chunk of the body; returns the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(len) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&pending[start..start + len]);
            if let Some(event) = self.line(line.strip_suffix('\r').unwrap_or(&line)) {
                events.push(event);
            }
            start += len + 1;
        }
        // What is left is the start of a line.
        pending.drain(..start);
        self.pending = pending;
        events
    }

    /// The body ended: an event not yet closed by a blank line still counts.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let line = String::from_utf8_lossy(&rest).into_owned();
            if let Some(event) = self.line(line.trim_end_matches('\r')) {
                return Some(event);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.current.event = value.to_owned(),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.current);
        let had = std::mem::take(&mut self.has_data);
        had.then_some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_at_any_byte() {
        let body = "data: {\"a\":\"é\"}\n\n: keep-alive\n\nevent: error\ndata:x\ndata: y\r\n\r\ndata: [DONE]\n\n";
        let whole = SseParser::default().push(body.as_bytes());
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].data, "{\"a\":\"é\"}");
        assert_eq!(whole[1], SseEvent { event: "error".into(), data: "x\ny".into() });
        assert_eq!(whole[2].data, "[DONE]");
        for split in 0..body.len() {
            let mut p = SseParser::default();
            let mut got = p.push(&body.as_bytes()[..split]);
            got.extend(p.push(&body.as_bytes()[split..]));
            got.extend(p.finish());
            assert_eq!(got, whole, "split at {split}");
        }
    }

    #[test]
    fn unterminated_last_event_is_kept() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: tail").is_empty());
        assert_eq!(p.finish().unwrap().data, "tail");
        assert_eq!(p.finish(), None);
    }
}
