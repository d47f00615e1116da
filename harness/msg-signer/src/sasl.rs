//! Client-side SASL EXTERNAL with an empty initial response.
//!
//! fe2o3-amqp's `SaslProfile::External` sends `sasl-init` with no initial response at all;
//! RabbitMQ 3.10 refuses that (notes/amqp-stack.md), while proton sends an empty one. The
//! profile enum of fe2o3 is closed, so we run the SASL layer ourselves on the stream (after
//! TLS, before AMQP) and then hand the stream to fe2o3 with no SASL profile: fe2o3 continues
//! with the AMQP protocol header, as AMQP 1.0 §5.3.1 prescribes after a successful outcome.
//!
//! Hand-written because fe2o3 exposes no hook for it; frames are encoded with `serde_amqp`.

use fe2o3_amqp::types::primitives::{Binary, Symbol};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit, SaslMechanisms, SaslOutcome};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// AMQP 1.0 §5.3.2: SASL protocol header (protocol id 3).
pub const SASL_HEADER: [u8; 8] = *b"AMQP\x03\x01\x00\x00";
/// AMQP 1.0 §2.3.1: frame type 0x01 is a SASL frame.
const FRAME_TYPE_SASL: u8 = 0x01;
/// AMQP 1.0 §5.3.1: SASL frames are limited to 512 bytes until negotiated.
const MIN_MAX_FRAME_SIZE: usize = 512;

async fn read_frame<S: AsyncRead + Unpin>(s: &mut S) -> Result<Vec<u8>, String> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size)
        .await
        .map_err(|e| format!("reading a SASL frame: {e}"))?;
    let size = u32::from_be_bytes(size) as usize;
    // §2.3.1: size includes the 8-byte header; §5.3.1 bounds SASL frames.
    if !(8..=MIN_MAX_FRAME_SIZE.max(64 * 1024)).contains(&size) {
        return Err(format!("SASL frame of impossible size {size}"));
    }
    let mut rest = vec![0u8; size - 4];
    s.read_exact(&mut rest)
        .await
        .map_err(|e| format!("reading a SASL frame: {e}"))?;
    let doff = rest[0] as usize;
    if rest[1] != FRAME_TYPE_SASL {
        return Err(format!("expected a SASL frame, got frame type {}", rest[1]));
    }
    // §2.3.1: data offset in 4-byte words, at least 2.
    if doff < 2 || doff * 4 > size {
        return Err(format!("SASL frame with bad data offset {doff}"));
    }
    Ok(rest[doff * 4 - 4..].to_vec())
}

fn frame(body: &[u8]) -> Vec<u8> {
    let size = (body.len() + 8) as u32;
    let mut f = Vec::with_capacity(size as usize);
    f.extend_from_slice(&size.to_be_bytes());
    f.extend_from_slice(&[2, FRAME_TYPE_SASL, 0, 0]);
    f.extend_from_slice(body);
    f
}

/// Run SASL EXTERNAL with an empty initial response on `s`. `hostname` goes into `sasl-init`.
pub async fn external_with_empty_response<S>(
    s: &mut S,
    hostname: Option<&str>,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    s.write_all(&SASL_HEADER)
        .await
        .map_err(|e| format!("writing the SASL header: {e}"))?;
    s.flush().await.map_err(|e| e.to_string())?;
    let mut header = [0u8; 8];
    s.read_exact(&mut header)
        .await
        .map_err(|e| format!("reading the broker's protocol header: {e}"))?;
    if header != SASL_HEADER {
        return Err(format!(
            "the broker answered the SASL header with {header:?} (it does not offer SASL)"
        ));
    }
    let mechanisms: SaslMechanisms = serde_amqp::from_slice(&read_frame(s).await?)
        .map_err(|e| format!("bad sasl-mechanisms frame: {e}"))?;
    let external = Symbol::from("EXTERNAL");
    if !mechanisms.sasl_server_mechanisms.0.contains(&external) {
        return Err(format!(
            "the broker does not offer EXTERNAL (offers {:?})",
            mechanisms
                .sasl_server_mechanisms
                .0
                .iter()
                .map(|m| m.as_str().to_string())
                .collect::<Vec<_>>()
        ));
    }
    let init = SaslInit {
        mechanism: external,
        // The point of this module: an empty (not absent) initial response, as proton sends.
        initial_response: Some(Binary::from(Vec::new())),
        hostname: hostname.map(str::to_string),
    };
    let body = serde_amqp::to_vec(&init).map_err(|e| format!("encoding sasl-init: {e}"))?;
    s.write_all(&frame(&body))
        .await
        .map_err(|e| format!("writing sasl-init: {e}"))?;
    s.flush().await.map_err(|e| e.to_string())?;
    let outcome: SaslOutcome = serde_amqp::from_slice(&read_frame(s).await?).map_err(|e| {
        format!("expected sasl-outcome (challenges are not supported for EXTERNAL): {e}")
    })?;
    match outcome.code {
        SaslCode::Ok => Ok(()),
        code => Err(format!("the broker refused SASL EXTERNAL: {code:?}")),
    }
}
