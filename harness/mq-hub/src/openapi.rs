//! The OpenAPI 3.1 description of the reference server, per profile, served at [`PATH`]. It is
//! the machine-readable half of docs/mq-hub-contract.md (rule anchors `C1`..`C13` in the
//! descriptions); `.ci/steps/25-mq-hub-openapi.sh` checks the running server against it with
//! schemathesis.

use serde_json::{Value, json};

use crate::Profile;
use crate::server::{
    CONNECTION_TIMEOUT, X_MQ_AUTHORIZATION, X_MQ_DID, X_MQ_DID_PROOF, X_MQ_DID_TIMESTAMP,
    X_MQ_TOKEN_LIFETIME,
};

/// Where the server serves its description.
pub const PATH: &str = "/.well-known/mq-hub/openapi.json";

fn text(desc: &str) -> Value {
    json!({
        "description": desc,
        "content": {"text/plain": {"schema": {"type": "string"}}}
    })
}

fn empty(desc: &str) -> Value {
    json!({ "description": desc })
}

fn path_param(name: &str, desc: &str, pattern: Option<&str>) -> Value {
    let mut schema = json!({"type": "string", "minLength": 1});
    if let Some(p) = pattern {
        schema["pattern"] = json!(p);
    }
    json!({"name": name, "in": "path", "required": true, "description": desc, "schema": schema})
}

fn header_param(name: &str, desc: &str, schema: Value) -> Value {
    json!({"name": name, "in": "header", "required": false, "description": desc, "schema": schema})
}

/// The OpenAPI 3.1 document of a server in `profile` with MQ on `domains`.
pub fn document(profile: Profile, domains: &[String]) -> Value {
    let token_header = match profile {
        Profile::Rfc130 => "authorization",
        Profile::Opendsu => X_MQ_AUTHORIZATION,
    };
    let mut domain = path_param(
        "domain",
        "A domain with the MQ component (C4: else 405).",
        None,
    );
    domain["schema"]["enum"] = json!(domains);
    let hash = path_param(
        "hashDID",
        "base58btc(SHA-256(DID)) (C1).",
        Some("^[1-9A-HJ-NP-Za-km-z]{32,64}$"),
    );
    let sig = path_param(
        "signatureOfDid",
        "Lowercase hex of the DER ECDSA secp256k1/SHA-256 signature of the token by the queue \
         owner's DID key (RFC-130 §3.1, C10).",
        Some("^[0-9a-fA-F]{2,160}$"),
    );
    let id = path_param(
        "messageID",
        "An id from a get reply: URL-safe, unique in the queue (C7).",
        Some("^[A-Za-z0-9._~-]{1,128}$"),
    );
    let refused = |extra: &[(&str, Value)]| {
        let mut r = json!({
            "400": text("A malformed path segment (hashDID, id) or parameter (C9, C11)."),
            "403": text("No token, an invalid token, a token for another queue or a wrong \
                         signatureOfDid (RFC-130 §2.4, §3.3)."),
            "404": empty("No such route."),
            "405": text("The domain has no MQ component (C4)."),
            "431": empty("Request head over 64 KiB (C8)."),
            "500": text("Store error, queue full or too many parked requests (C8)."),
        });
        for (k, v) in extra {
            r[*k] = v.clone();
        }
        r
    };
    let mut message_props = json!({
        "message": {"type": "string", "description": "The raw body of the put (C6)."},
        "messageId": {"type": "string", "pattern": "^[A-Za-z0-9._~-]{1,128}$"},
    });
    let mut required = vec!["message", "messageId"];
    if profile == Profile::Rfc130 {
        message_props["sender"] = json!({
            "type": "string",
            "description": "The DID that held the put token (C12)."
        });
        required.push("sender");
    }
    let message = json!({
        "description": "The oldest message (C6).",
        "content": {"application/json": {"schema": {
            "type": "object", "required": required, "properties": message_props
        }}}
    });
    let no_content = empty("No message within the connection timeout (RFC-130 §3.3, C5).");
    let security = json!([{ "token": [] }]);
    let take_params = match profile {
        Profile::Rfc130 => json!([domain, hash, id, sig]),
        Profile::Opendsu => json!([domain, hash, sig]),
    };
    let take_path = match profile {
        Profile::Rfc130 => "/mq/{domain}/take/{hashDID}/{messageID}/{signatureOfDid}",
        Profile::Opendsu => "/mq/{domain}/take/{hashDID}/{signatureOfDid}",
    };
    let mut paths = json!({
        "/mq/{domain}/{hashDID}/token": {"get": {
            "summary": "A token for the queue hashDID (RFC-130 §1; C1, C2)",
            "parameters": [domain, hash,
                header_param(X_MQ_DID, "The holder's DID (C1).", json!({"type": "string"})),
                header_param(X_MQ_DID_TIMESTAMP, "Unix seconds of the proof (C1).",
                    json!({"type": "string", "pattern": "^[0-9]{1,20}$"})),
                header_param(X_MQ_DID_PROOF, "Hex DER signature of mq-hub-token:<domain>:<hashDID>:<timestamp> (C1).",
                    json!({"type": "string"})),
                header_param(X_MQ_TOKEN_LIFETIME, "Seconds, at most the server's lifetime (C1).",
                    json!({"type": "string", "pattern": "^[0-9]{1,20}$"}))],
            "responses": refused(&[("200", json!({
                "description": "The token (RFC-130 §1.2.1, C2).",
                "headers": {CONNECTION_TIMEOUT: {"description": "The long-poll timeout in ms (C5).",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
                "content": {"application/json": {"schema": {
                    "type": "object", "required": ["token", "expires"],
                    "properties": {"token": {"type": "string"},
                                   "expires": {"type": "integer", "description": "exp * 1000 (ms)"}}}}}
            }))])
        }},
        "/mq/{domain}/put/{hashDID}": {"put": {
            "summary": "Put the raw body into the queue hashDID (RFC-130 §2; C6, C8)",
            "parameters": [domain, hash],
            "security": security,
            "requestBody": {"required": false, "content": {"text/plain": {"schema": {"type": "string"}}}},
            "responses": refused(&[
                ("200", empty("Stored (RFC-130 §2.4).")),
                ("408", text("The body did not arrive within body_read_timeout_ms (C8).")),
            ])
        }},
        "/mq/{domain}/get/{hashDID}/{signatureOfDid}": {"get": {
            "summary": "The oldest message, left in place; long poll (RFC-130 §3; C5, C6)",
            "parameters": [domain, hash, sig],
            "security": security,
            "responses": refused(&[("200", message.clone()), ("204", no_content.clone())])
        }},
        "/mq/{domain}/delete/{hashDID}/{messageID}/{signatureOfDid}": {"delete": {
            "summary": "Delete that message of this queue (RFC-130 §4; C9)",
            "parameters": [domain, hash, id, sig],
            "security": security,
            "responses": refused(&[("200", empty("Deleted (RFC-130 §4.3)."))])
        }},
    });
    paths[take_path] = json!({"get": {
        "summary": "Read and remove the oldest (or that) message; long poll (RFC-130 §5; C5, C9)",
        "parameters": take_params,
        "security": security,
        "responses": refused(&[("200", message), ("204", no_content)])
    }});
    paths[PATH] = json!({"get": {
        "summary": "This document",
        "responses": {"200": {"description": "OpenAPI 3.1",
            "content": {"application/json": {"schema": {"type": "object"}}}}}
    }});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("MQ Hub (RFC-130), profile {}", profile.as_str()),
            "version": "1",
            "description": "The sigharness reference MQ Hub. Rules C1..C13: docs/mq-hub-contract.md."
        },
        "paths": paths,
        "components": {"securitySchemes": {"token": {
            "type": "apiKey", "in": "header", "name": token_header,
            "description": "The raw token, no Bearer (C3)."
        }}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_profiles_describe_their_routes() {
        for p in [Profile::Rfc130, Profile::Opendsu] {
            let d = document(p, &["d".to_string()]);
            assert_eq!(d["openapi"], "3.1.0");
            let get = &d["paths"]["/mq/{domain}/get/{hashDID}/{signatureOfDid}"]["get"];
            assert_eq!(get["parameters"][0]["schema"]["enum"], json!(["d"]));
            let paths = d["paths"].as_object().unwrap();
            assert_eq!(paths.len(), 6, "{p}");
            let take = paths.keys().find(|k| k.contains("/take/")).unwrap();
            assert_eq!(take.contains("{messageID}"), p == Profile::Rfc130);
            let name = &d["components"]["securitySchemes"]["token"]["name"];
            assert_eq!(name == "authorization", p == Profile::Rfc130);
        }
    }
}
