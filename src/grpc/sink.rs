//! `type: grpc` sink (work in progress in this session).
use crate::config::GrpcSinkConfig;
use crate::connectors::{ConnectorError, Sink};
use crate::event::Event;

pub struct GrpcSink;

impl GrpcSink {
    pub fn start(id: &str, _config: &GrpcSinkConfig) -> Result<Self, ConnectorError> {
        Err(ConnectorError::Other { connector: id.to_owned(), message: "grpc sink: not built yet".into() })
    }
}

impl Sink for GrpcSink {
    fn write(&mut self, _events: &[Event]) -> Result<(), ConnectorError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}
