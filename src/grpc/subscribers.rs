//! `type: grpc_server` sink (work in progress in this session).
use crate::config::GrpcServerConfig;
use crate::connectors::{ConnectorError, Sink};
use crate::event::Event;

pub struct SubscriberServer;

impl SubscriberServer {
    pub fn start(id: &str, _config: &GrpcServerConfig) -> Result<Self, ConnectorError> {
        Err(ConnectorError::Other { connector: id.to_owned(), message: "grpc_server sink: not built yet".into() })
    }
}

impl Sink for SubscriberServer {
    fn write(&mut self, _events: &[Event]) -> Result<(), ConnectorError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}
