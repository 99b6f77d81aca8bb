//! Helpers shared by the fuzz targets: the canonical round-trip check, the incremental decode
//! loop, and an `arbitrary`-driven builder of valid packets.

pub mod builder;

use bytes::BytesMut;
use mqtt_codec::{DecodeError, Decoder, Packet, ProtocolVersion};

/// The version a decoded packet is re-encoded with: a CONNECT carries its own, any other packet
/// uses the version the decoder had when it decoded it.
pub fn encode_version(
    packet: &Packet,
    decoder_version: Option<ProtocolVersion>,
) -> ProtocolVersion {
    match packet {
        Packet::Connect(c) => c.protocol,
        _ => decoder_version.expect("only CONNECT can be decoded before the version is known"),
    }
}

/// The one packet the decoder accepts but the encoder refuses, on purpose: a 3.1/3.1.1 CONNECT
/// with an empty client identifier and Clean Session 0. A server must be able to read it to
/// answer CONNACK 0x02 [MQTT-3.1.3-8], and a client must never send it [MQTT-3.1.3-7].
pub fn client_must_not_send(packet: &Packet) -> bool {
    matches!(packet, Packet::Connect(c)
        if !c.protocol.is_v5() && c.client_id.is_empty() && !c.clean_start)
}

/// Encodes `packet` for `version`, which must succeed, and checks the canonical round trip:
/// `encoded_len` is the length written, the bytes decode back to an equal packet, and encoding
/// that packet again gives the same bytes. Returns the encoding.
pub fn assert_canonical(packet: &Packet, version: ProtocolVersion) -> BytesMut {
    let len = match packet.encoded_len(version) {
        Ok(len) => len,
        Err(e) => panic!("encoded_len({version:?}) failed on a decoded packet: {e:?}\n{packet:?}"),
    };
    let mut out = BytesMut::new();
    if let Err(e) = packet.encode(version, &mut out) {
        panic!("encode({version:?}) failed on a decoded packet: {e:?}\n{packet:?}");
    }
    assert_eq!(
        out.len(),
        len,
        "encoded_len disagrees with encode for {packet:?}"
    );
    let again = match Packet::decode(&out, version) {
        Ok(p) => p,
        Err(e) => panic!(
            "re-encoded packet does not decode ({version:?}): {e:?}\npacket: {packet:?}\nbytes: {}",
            hex(&out)
        ),
    };
    assert_eq!(
        &again,
        packet,
        "decode(encode(p)) != p for {version:?}, bytes {}",
        hex(&out)
    );
    let mut out2 = BytesMut::new();
    again
        .encode(version, &mut out2)
        .expect("second encode of an equal packet failed");
    assert_eq!(out, out2, "encoding is not deterministic");
    out
}

/// Decodes everything `buf` holds with `decoder`, until it needs more bytes or fails, checking
/// every decoded packet with [`assert_canonical`] and the decoder's size and version rules.
/// Returns false once the decoder reported an error (the connection would be closed).
pub fn drain(decoder: &mut Decoder, buf: &mut BytesMut) -> bool {
    loop {
        let before = buf.len();
        let version_before = decoder.version();
        let max = decoder.max_packet_size();
        match decoder.decode(buf) {
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return true;
            }
            Ok(Some(packet)) => {
                let consumed = before - buf.len();
                assert!(consumed >= 2, "a packet of {consumed} bytes");
                assert!(
                    consumed <= max,
                    "decoded a packet of {consumed} bytes with a maximum of {max}"
                );
                match (&packet, version_before) {
                    (Packet::Connect(c), None) => {
                        assert_eq!(
                            decoder.version(),
                            Some(c.protocol),
                            "server adopts CONNECT's version"
                        )
                    }
                    (_, None) => panic!("server decoder accepted {packet:?} before CONNECT"),
                    (_, Some(v)) => assert_eq!(decoder.version(), Some(v), "version changed"),
                }
                let version = encode_version(&packet, version_before);
                // Not asserted: that the canonical encoding is no longer than the input.
                if !client_must_not_send(&packet) {
                    assert_canonical(&packet, version);
                }
            }
            Err(e) => {
                // Every error maps to a reason code and formats without panicking.
                let _ = e.reason_code();
                let _ = e.to_string();
                if let DecodeError::PacketTooLarge { size, max: m } = e {
                    assert!(size > m, "PacketTooLarge with size {size} <= max {m}");
                    assert_eq!(m, max);
                }
                return false;
            }
        }
    }
}

/// Lower-case hex of `bytes`, for assertion messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
