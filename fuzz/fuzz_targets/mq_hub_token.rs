//! MQ Hub tokens in both dialects (`rfc130`: ES256 JWT; `opendsu`: base58 SeedSSIJWT) and the DID
//! proofs. No silent success: a token string the fuzzer makes never verifies, a mutation of a
//! real token verifies only with the claims it was issued with (no forged claims), `authorize`
//! grants only the domain and queue of the token, and holder proofs / `signatureOfDid` made of
//! fuzz bytes never verify.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mq_hub::did::{DidKeyPair, DidMethod, DidRegistry, hash_did};
use mq_hub::token::{
    Access, IssuedToken, TokenAuthority, check_holder_proof, check_signature_of_did,
};

const NOW: u64 = 1_700_000_000;
const DOMAIN: &str = "default";

struct Fixture {
    auth: TokenAuthority,
    holder: DidKeyPair,
    owner: IssuedToken,
    put_only: IssuedToken,
}

fn fixtures() -> &'static [Fixture; 2] {
    static F: OnceLock<[Fixture; 2]> = OnceLock::new();
    F.get_or_init(|| {
        let make = |profile| {
            let auth = TokenAuthority::generate(profile, "fuzz").expect("authority");
            let holder = DidKeyPair::generate(DidMethod::Key).expect("holder key");
            let owner = auth
                .issue(NOW, 600, holder.did(), DOMAIN, &holder.hash_did())
                .expect("owner token");
            let other = hash_did("did:key:zsomeoneelse");
            let put_only = auth
                .issue(NOW, 600, holder.did(), DOMAIN, &other)
                .expect("put token");
            Fixture {
                auth,
                holder,
                owner,
                put_only,
            }
        };
        [
            make(mq_hub::Profile::Rfc130),
            make(mq_hub::Profile::Opendsu),
        ]
    })
}

/// Apply fuzz-chosen edits to `token`: (position, operation, byte) triples.
fn mutate(token: &str, edits: &[u8]) -> Option<String> {
    let mut t = token.as_bytes().to_vec();
    for e in edits.chunks_exact(4) {
        let pos = usize::from(u16::from_le_bytes([e[0], e[1]]));
        let pos = if t.is_empty() { 0 } else { pos % (t.len() + 1) };
        match e[2] % 4 {
            0 if pos < t.len() => t[pos] = e[3],
            1 => t.insert(pos, e[3]),
            2 if pos < t.len() => {
                t.remove(pos);
            }
            _ => t.truncate(pos),
        }
    }
    String::from_utf8(t).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let fx = &fixtures()[usize::from(sel & 1)];
    match (sel >> 1) % 5 {
        // A token made of fuzz bytes.
        0 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(c) = fx.auth.verify(NOW + 1, s) {
                assert!(
                    s == fx.owner.token || s == fx.put_only.token,
                    "a token the server never issued verified: {s:?} -> {c:?}"
                );
            }
        }
        // A mutated real token: verifies only with the issued claims.
        1 => {
            let base = if rest.first().is_some_and(|b| b & 1 == 1) {
                &fx.put_only
            } else {
                &fx.owner
            };
            let Some(t) = mutate(&base.token, rest.get(1..).unwrap_or(&[])) else {
                return;
            };
            if let Ok(c) = fx.auth.verify(NOW + 1, &t) {
                assert_eq!(
                    c, base.claims,
                    "mutated token {t:?} verified with other claims"
                );
            }
        }
        // authorize: only the issued domain and queue, owner access only on the own queue.
        2 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            let (domain, queue) = s.split_once('/').unwrap_or((DOMAIN, s));
            let own = fx.holder.hash_did();
            for (tok, need) in [
                (&fx.owner, Access::Owner),
                (&fx.owner, Access::Put),
                (&fx.put_only, Access::Put),
                (&fx.put_only, Access::Owner),
            ] {
                let r = fx.auth.authorize(NOW + 1, &tok.token, domain, queue, need);
                let queue_ok = tok.claims.credentials.iter().any(|q| q == queue);
                let access_ok = need == Access::Put
                    || (tok.claims.options.access == Access::Owner && queue == own);
                assert_eq!(
                    r.is_ok(),
                    domain == DOMAIN && queue_ok && access_ok,
                    "authorize({domain:?}, {queue:?}, {need:?}) -> {r:?}"
                );
            }
        }
        // A holder proof of fuzz bytes: did, timestamp, proof separated by '\n'.
        3 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            let mut f = s.splitn(4, '\n');
            let (did, ts, proof, target) = (f.next(), f.next(), f.next(), f.next().unwrap_or(""));
            let did = did.map(|d| d.replace("{DID}", fx.holder.did()));
            let r = check_holder_proof(
                NOW,
                300,
                &DidRegistry::default(),
                did.as_deref(),
                ts,
                proof,
                DOMAIN,
                target,
            );
            assert!(r.is_err(), "a proof of fuzz bytes verified: {s:?}");
        }
        // signatureOfDid of fuzz bytes, for the holder's real token.
        _ => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            let (did, sig) = s.split_once('\n').unwrap_or((fx.holder.did(), s));
            let did = did.replace("{DID}", fx.holder.did());
            let r = check_signature_of_did(&DidRegistry::default(), &did, &fx.owner.token, sig);
            if r.is_ok() {
                // ECDSA signatures are randomized, so only a DER-equivalent re-encoding of a
                // genuine one could pass; a fuzz-made signature never should.
                panic!("signatureOfDid {sig:?} of fuzz bytes verified for {did}");
            }
        }
    }
});
