//! A tonic codec for messages encoded once and sent as they are: the
//! subscriber fan-out encodes an event once for every subscriber, and the
//! grpc sink encodes it once however often a failed stream makes it re-send.
//! The bytes on the wire are the ones the generated (prost) codec writes.

use std::marker::PhantomData;

use bytes::{BufMut, Bytes};
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::Status;

/// Sends `Bytes` (an encoded message) as they are; decodes `D` as usual.
#[derive(Debug)]
pub struct PreEncodedCodec<D>(PhantomData<fn() -> D>);

impl<D> Default for PreEncodedCodec<D> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<D: prost::Message + Default + Send + 'static> Codec for PreEncodedCodec<D> {
    type Encode = Bytes;
    type Decode = D;
    type Encoder = PreEncoded;
    type Decoder = tonic_prost::ProstDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

/// Writes an encoded message as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct PreEncoded;

impl Encoder for PreEncoded {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use tonic::codec::Codec;

    use super::*;
    use crate::grpc::pb;

    #[test]
    fn the_codec_decodes_what_prost_encoded() {
        let event = pb::Event { id: "e1".into(), payload: Bytes::from_static(b"{}"), ..Default::default() };
        let encoded = Bytes::from(event.encode_to_vec());
        assert_eq!(pb::Event::decode(encoded.clone()).expect("decode"), event);
        let mut codec = PreEncodedCodec::<pb::Event>::default();
        let _ = (codec.encoder(), codec.decoder());
    }
}
