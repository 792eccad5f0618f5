//! The component graph: ids are unique, every `inputs` entry names a source or
//! processor, processors and sinks have inputs, sources have none, every output
//! is consumed, and there is no cycle.

use std::collections::HashMap;

use serde_saphyr::Spanned;

use super::error::{line_of_spanned, Problems};
use super::raw::{RawProcessor, RawSink, RawSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Source,
    Processor,
    Sink,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Processor => "processor",
            Role::Sink => "sink",
        }
    }
}

/// One component as the graph sees it.
struct Node<'a> {
    id: &'a Spanned<String>,
    role: Role,
    /// `spec.processors[2]` etc., the prefix of every key about this node.
    key: String,
    inputs: Option<&'a Spanned<Vec<Spanned<String>>>>,
}

pub(crate) fn check(problems: &mut Problems, sources: &[RawSource], processors: &[RawProcessor], sinks: &[RawSink]) {
    let mut nodes = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let key = format!("spec.sources[{index}]");
        if let Some(inputs) = &source.inputs {
            problems.on(inputs, format!("{key}.inputs"), "a source has no inputs; remove `inputs:`");
        }
        nodes.push(Node { id: &source.id, role: Role::Source, key, inputs: None });
    }
    for (index, processor) in processors.iter().enumerate() {
        let key = format!("spec.processors[{index}]");
        nodes.push(Node { id: &processor.id, role: Role::Processor, key, inputs: processor.inputs.as_ref() });
    }
    for (index, sink) in sinks.iter().enumerate() {
        let key = format!("spec.sinks[{index}]");
        nodes.push(Node { id: &sink.id, role: Role::Sink, key, inputs: sink.inputs.as_ref() });
    }

    let by_id = unique_ids(problems, &nodes);
    check_inputs(problems, &nodes, &by_id);
    check_outputs_used(problems, &nodes, &by_id);
    check_cycles(problems, &nodes, &by_id);
}

/// Maps each id to its first node; reports empty and repeated ids.
fn unique_ids<'a>(problems: &mut Problems, nodes: &[Node<'a>]) -> HashMap<&'a str, usize> {
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (index, node) in nodes.iter().enumerate() {
        let id = node.id.value.as_str();
        if id.trim().is_empty() {
            problems.on(node.id, format!("{}.id", node.key), "must not be empty");
            continue;
        }
        if let Some(&first) = by_id.get(id) {
            let first_line = line_of_spanned(nodes[first].id).map_or(String::new(), |line| format!(" at line {line}"));
            let message = format!(
                "duplicate id {id:?} (already used by the {} {}{first_line})",
                nodes[first].role.name(),
                nodes[first].key
            );
            problems.on(node.id, format!("{}.id", node.key), message);
            continue;
        }
        by_id.insert(id, index);
    }
    by_id
}

fn check_inputs(problems: &mut Problems, nodes: &[Node], by_id: &HashMap<&str, usize>) {
    for node in nodes.iter().filter(|node| node.role != Role::Source) {
        let Some(inputs) = node.inputs.filter(|inputs| !inputs.value.is_empty()) else {
            let message = format!("a {} needs at least one input (e.g. inputs: [<source id>])", node.role.name());
            problems.on(node.id, format!("{}.inputs", node.key), message);
            continue;
        };
        for (index, input) in inputs.value.iter().enumerate() {
            let key = format!("{}.inputs[{index}]", node.key);
            if inputs.value[..index].iter().any(|earlier| earlier.value == input.value) {
                problems.on(input, key, format!("{:?} is listed twice; each event would arrive twice", input.value));
                continue;
            }
            match by_id.get(input.value.as_str()) {
                None => {
                    let known: Vec<&str> = nodes
                        .iter()
                        .enumerate()
                        .filter(|(index, node)| node.role != Role::Sink && is_first(by_id, node, *index))
                        .map(|(_, node)| node.id.value.as_str())
                        .collect();
                    let message =
                        format!("unknown id {:?} (known sources and processors: {})", input.value, known.join(", "));
                    problems.on(input, key, message);
                }
                Some(&target) if nodes[target].role == Role::Sink => {
                    problems.on(input, key, format!("{:?} is a sink; a sink has no output to read", input.value));
                }
                Some(_) => {}
            }
        }
    }
}

/// Whether `node` (at `index`) is the one its id refers to, not a later duplicate.
fn is_first(by_id: &HashMap<&str, usize>, node: &Node, index: usize) -> bool {
    by_id.get(node.id.value.as_str()) == Some(&index)
}

/// A source or processor nobody reads from would drop its events silently.
fn check_outputs_used(problems: &mut Problems, nodes: &[Node], by_id: &HashMap<&str, usize>) {
    for (index, node) in nodes.iter().enumerate() {
        // A repeated id is reported once, as a duplicate.
        if node.role == Role::Sink || !is_first(by_id, node, index) {
            continue;
        }
        let consumed = nodes
            .iter()
            .filter_map(|other| other.inputs)
            .any(|inputs| inputs.value.iter().any(|input| input.value == node.id.value));
        if !consumed {
            let message =
                format!("no processor or sink lists {:?} in its inputs, so its events would go nowhere", node.id.value);
            problems.on(node.id, format!("{}.id", node.key), message);
        }
    }
}

/// Depth-first search along "feeds" edges (input -> consumer); each back edge closes a cycle.
fn check_cycles(problems: &mut Problems, nodes: &[Node], by_id: &HashMap<&str, usize>) {
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (index, node) in nodes.iter().enumerate() {
        for input in node.inputs.iter().flat_map(|inputs| inputs.value.iter()) {
            // Reading from a sink is reported on its own; it is no edge.
            match by_id.get(input.value.as_str()) {
                Some(&from) if nodes[from].role != Role::Sink => consumers[from].push(index),
                _ => {}
            }
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; nodes.len()];
    for start in 0..nodes.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next consumer to visit); `path` mirrors the stack.
        let mut stack = vec![(start, 0usize)];
        let mut path = vec![start];
        marks[start] = Mark::OnPath;
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            if let Some(&consumer) = consumers[node].get(*next) {
                *next += 1;
                match marks[consumer] {
                    Mark::New => {
                        marks[consumer] = Mark::OnPath;
                        stack.push((consumer, 0));
                        path.push(consumer);
                    }
                    Mark::OnPath => report_cycle(problems, nodes, &path, consumer),
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
                path.pop();
            }
        }
    }
}

fn report_cycle(problems: &mut Problems, nodes: &[Node], path: &[usize], back_to: usize) {
    let Some(start) = path.iter().position(|&node| node == back_to) else { return };
    let mut names: Vec<&str> = path[start..].iter().map(|&node| nodes[node].id.value.as_str()).collect();
    names.push(nodes[back_to].id.value.as_str());
    let first = &nodes[back_to];
    let line = first.inputs.and_then(line_of_spanned).or_else(|| line_of_spanned(first.id));
    problems.at(line, format!("{}.inputs", first.key), format!("cycle: {}", names.join(" -> ")));
}
