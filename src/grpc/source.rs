//! `type: grpc` source (work in progress in this session).
use crate::config::GrpcSourceConfig;
use crate::connectors::{ConnectorError, Source};
use crate::event::Event;

pub struct GrpcSource;

impl GrpcSource {
    pub fn start(id: &str, _config: &GrpcSourceConfig) -> Result<Self, ConnectorError> {
        Err(ConnectorError::Other { connector: id.to_owned(), message: "grpc source: not built yet".into() })
    }
}

impl Source for GrpcSource {
    fn poll_batch(&mut self, _out: &mut Vec<Event>, _max: usize) -> Result<bool, ConnectorError> {
        Ok(false)
    }
}
