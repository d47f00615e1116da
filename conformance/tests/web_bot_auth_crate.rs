//! Cloudflare's `web-bot-auth` crate 0.7.0 judged in-process against
//! vectors/data/web-bot-auth/web_bot_auth_test.json (issue 15, item 4, first step): every vector
//! where its verdict differs from the vector's, and its choice on every `acceptable` vector, is
//! pinned in the snapshot `web_bot_auth_crate_verdicts` with the vector's flags (the flags name
//! the known bug: CfExpiryUnchecked, CfHttpAgent, ...). A change in either
//! direction fails this test. The integration (this file's `SignedMessage`) hands the crate the
//! raw field lines and the derived values our HttpMessage gives; the keyring holds the directory
//! key under its thumbprint (what the draft's directory `kid` is).

use http_sig::HttpMessage;
use web_bot_auth::WebBotAuthVerifier;
use web_bot_auth::components::{
    CoveredComponent, DerivedComponent, HTTPField, HTTPFieldParameters,
};
use web_bot_auth::keyring::{Algorithm, KeyRing};
use web_bot_auth::message_signatures::SignedMessage;

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../vectors/data/web-bot-auth/web_bot_auth_test.json"
);

struct Msg<'a>(&'a HttpMessage);

impl SignedMessage for Msg<'_> {
    fn lookup_component(&self, name: &CoveredComponent) -> Vec<String> {
        let rl = match &self.0.kind {
            http_sig::MessageKind::Request(rl) => rl,
            _ => return vec![],
        };
        let host = rl
            .authority
            .clone()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match name {
            // `;key=K`: the integrator hands over the member (the value RFC 9421 §2.1.2 signs),
            // computed by http-sig; otherwise the raw field lines.
            CoveredComponent::HTTP(HTTPField { name, parameters }) => {
                let key = parameters.0.iter().find_map(|p| match p {
                    HTTPFieldParameters::Key(k) => Some(k.clone()),
                    _ => None,
                });
                match key {
                    Some(k) => http_sig::ComponentId::new(name)
                        .and_then(|c| c.with_string("key", &k))
                        .and_then(|c| http_sig::component_value(self.0, None, &c))
                        .map(|v| vec![v])
                        .unwrap_or_default(),
                    None => self.0.header_values(name).map(str::to_string).collect(),
                }
            }
            CoveredComponent::Derived(DerivedComponent::Authority { .. }) => vec![host],
            CoveredComponent::Derived(DerivedComponent::TargetUri { .. }) => {
                vec![format!("https://{host}{}", rl.target)]
            }
            CoveredComponent::Derived(DerivedComponent::Method { .. }) => vec![rl.method.clone()],
            CoveredComponent::Derived(DerivedComponent::Path { .. }) => vec![rl.target.clone()],
            _ => vec![],
        }
    }
}

fn crate_verdict(msg: &HttpMessage, keyring: &KeyRing) -> Result<(), String> {
    let v = WebBotAuthVerifier::parse(&Msg(msg)).map_err(|e| format!("parse: {e:?}"))?;
    v.verify(keyring, None)
        .map(|_| ())
        .map_err(|e| format!("verify: {e:?}"))
}

#[test]
fn web_bot_auth_crate_0_7_0_against_the_vectors() {
    let text = std::fs::read_to_string(FILE).expect("the vector file");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let jwk = &v["directory"]["keys"][0];
    let x = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        jwk["x"].as_str().unwrap(),
    )
    .unwrap();
    let mut keyring = KeyRing::default();
    assert!(keyring.import_raw(
        jwk["kid"].as_str().unwrap().to_string(),
        Algorithm::Ed25519,
        x
    ));
    let mut lines = Vec::new();
    let mut agree = 0;
    for t in v["tests"].as_array().unwrap() {
        let id = t["tcId"].as_u64().unwrap();
        let msg = HttpMessage::parse(t["message"].as_str().unwrap().as_bytes()).unwrap();
        let got = crate_verdict(&msg, &keyring);
        let result = t["result"].as_str().unwrap();
        let flags: Vec<&str> = t["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        if std::env::var_os("WBA_DEBUG").is_some() {
            eprintln!("{id}: {got:?}");
        }
        let verdict = if got.is_ok() { "accepts" } else { "refuses" };
        let same = matches!((result, got.is_ok()), ("valid", true) | ("invalid", false));
        if same {
            agree += 1;
            continue;
        }
        lines.push(format!(
            "{id:>2} {result:<10} crate {verdict} [{}] {}",
            flags.join(","),
            t["comment"].as_str().unwrap()
        ));
    }
    lines.push(format!("{agree} vectors agree"));
    insta::assert_snapshot!("web_bot_auth_crate_verdicts", lines.join("\n"));
}
