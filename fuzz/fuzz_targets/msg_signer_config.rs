//! msg-signer configuration (`MsgSignerConfig` / `MsgBatchSignerConfig` from YAML; the first byte
//! chooses) and `BrokerUrl::parse`. A config that loads is valid: every broker URL parses, the
//! derived values exist, and its templates expand. A broker URL that parses re-parses the same.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use msg_signer::config::{BrokerUrl, MsgBatchSignerConfig, MsgSignerConfig, expand_template};

fn loaded(c: &MsgSignerConfig) {
    let path = Path::new("fuzz.yaml");
    c.validate(path).expect("a loaded config validates again");
    let brokers = c.brokers().expect("a loaded config's brokers parse");
    assert_eq!(brokers.len(), c.messaging_brokers.len());
    let _ = c.timeout();
    let _ = c.ttl();
    let _ = c.resolve_key("some-key");
    let _ = expand_template(&c.topic_send_to, "creator", "task");
    let _ = expand_template(&c.topic_listen_to, "creator", "task");
}

fuzz_target!(|data: &[u8]| {
    let Some((sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    match sel % 3 {
        0 => match MsgSignerConfig::from_yaml(path, text) {
            Ok(c) => loaded(&c),
            Err(e) => assert!(
                e.to_string().contains("fuzz.yaml"),
                "error without the file: {e}"
            ),
        },
        1 => match MsgBatchSignerConfig::from_yaml(path, text) {
            Ok(c) => {
                c.validate(path)
                    .expect("a loaded batch config validates again");
                loaded(&c.common());
            }
            Err(e) => assert!(
                e.to_string().contains("fuzz.yaml"),
                "error without the file: {e}"
            ),
        },
        _ => {
            if let Ok(u) = BrokerUrl::parse(text) {
                assert!(!u.host.is_empty() && u.port != 0);
                assert_eq!(BrokerUrl::parse(&u.url), Ok(u.clone()));
            }
        }
    }
});
