//! What a module exports and imports, measured against the ABI, in plain words.
//! Used by `flowctl validate` and at load time (a module with problems is refused).

use std::fmt;
use std::sync::OnceLock;

use wasmtime::{Engine, ExternType, FuncType, Module};

use super::guest_abort;
use super::host::{HOST_MODULES, WASI_MODULE};

/// An export or import and its type, as text (`(i32, i32) -> i64`, `memory`).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// For imports `module.name`, for exports `name`.
    pub name: String,
    pub ty: String,
}

/// How a module expects to be started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ModuleKind {
    /// No start-up export: its functions are called as they are (Rust `cdylib`).
    #[default]
    Library,
    /// A WASI reactor (Go `-buildmode=c-shared`, C `-mexec-model=reactor`):
    /// `_initialize` runs once per instance before any other export.
    Reactor,
    /// A WASI command (a program with `main`, exporting `_start`): refused.
    Command,
}

impl fmt::Display for ModuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModuleKind::Library => "library (no `_initialize`)",
            ModuleKind::Reactor => "WASI reactor (`_initialize` runs once per instance, before `init`)",
            ModuleKind::Command => "WASI command (`_start`)",
        })
    }
}

/// The outcome of inspecting a module.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleReport {
    pub exports: Vec<Item>,
    pub imports: Vec<Item>,
    /// The ABI version: what `flowctl_abi_version` returned (known once loaded), else 1.
    pub abi_version: u32,
    pub declares_abi_version: bool,
    pub has_process_batch: bool,
    pub has_init: bool,
    pub has_last_error: bool,
    pub uses_wasi: bool,
    pub kind: ModuleKind,
    /// Imports AssemblyScript's `env.abort`.
    pub imports_abort: bool,
    /// What makes the module unusable.
    pub problems: Vec<String>,
    /// Worth knowing, not wrong.
    pub notes: Vec<String>,
}

impl ModuleReport {
    /// Whether flowctl can run the module.
    pub fn is_usable(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Inspects `bytes` (binary wasm or WAT text). Never panics: invalid input is a problem in the report.
pub fn inspect(bytes: &[u8]) -> ModuleReport {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    let engine = ENGINE.get_or_init(Engine::default);
    match Module::new(engine, bytes) {
        Ok(module) => report_for(&module),
        Err(err) => ModuleReport {
            abi_version: 1,
            problems: vec![format!("not valid WebAssembly: {}", first_line(&err))],
            ..ModuleReport::default()
        },
    }
}

fn first_line(err: &wasmtime::Error) -> String {
    format!("{err:#}").lines().next().unwrap_or("").to_owned()
}

const REQUIRED: [(&str, &str); 3] =
    [("allocate", "(i32) -> i32"), ("free", "(i32, i32) -> ()"), ("process_event", "(i32, i32) -> i64")];
const OPTIONAL: [(&str, &str); 5] = [
    ("_initialize", "() -> ()"),
    ("process_batch", "(i32, i32) -> i64"),
    ("init", "(i32, i32) -> i32"),
    ("last_error", "() -> i64"),
    ("flowctl_abi_version", "() -> i32"),
];
const HOST_FUNCTIONS: [(&str, &str); 6] = [
    ("log", "(i32, i32, i32) -> ()"),
    ("record_metric", "(i32, i32, f64) -> ()"),
    ("http_request", "(i32, i32, i32, i32, i32) -> i64"),
    ("state_get", "(i32, i32) -> i64"),
    ("state_set", "(i32, i32, i32, i32) -> i32"),
    ("state_delete", "(i32, i32) -> i32"),
];

/// The report of a compiled module.
pub fn report_for(module: &Module) -> ModuleReport {
    let mut report = ModuleReport { abi_version: 1, ..ModuleReport::default() };
    for export in module.exports() {
        report.exports.push(Item { name: export.name().to_owned(), ty: describe(&export.ty()) });
    }
    let export_ty = |name: &str| report.exports.iter().find(|e| e.name == name).map(|e| e.ty.clone());
    let mut problems = Vec::new();
    match export_ty("memory") {
        Some(ty) if ty.starts_with("memory") => {}
        Some(ty) => problems.push(format!("export `memory` is a {ty}, expected a memory")),
        None => problems.push("missing export `memory` (the guest's linear memory)".to_owned()),
    }
    for (name, expected) in REQUIRED {
        match export_ty(name) {
            None => problems.push(format!("missing export `{name}` (fn{expected})")),
            Some(ty) if ty != expected => problems.push(format!("export `{name}` has type {ty}, expected {expected}")),
            Some(_) => {}
        }
    }
    for (name, expected) in OPTIONAL {
        if let Some(ty) = export_ty(name) {
            if ty != expected {
                problems.push(format!("export `{name}` has type {ty}, expected {expected}"));
            }
        }
    }
    report.has_process_batch = export_ty("process_batch").is_some();
    report.has_init = export_ty("init").is_some();
    report.has_last_error = export_ty("last_error").is_some();
    report.declares_abi_version = export_ty("flowctl_abi_version").is_some();
    report.kind = if export_ty("_start").is_some() {
        problems.push(
            "exports `_start`: a WASI command (a program with `main`), which flowctl cannot call into; \
             build it as a reactor or library (Go: `-buildmode=c-shared`; Rust: `crate-type = [\"cdylib\"]`; \
             C: `-mexec-model=reactor`)"
                .to_owned(),
        );
        ModuleKind::Command
    } else if export_ty("_initialize").is_some() {
        ModuleKind::Reactor
    } else {
        ModuleKind::Library
    };

    for import in module.imports() {
        let ty = describe(&import.ty());
        let (module_name, name) = (import.module(), import.name());
        if module_name == WASI_MODULE {
            report.uses_wasi = true;
        } else if module_name == "env" && name == guest_abort::NAME {
            report.imports_abort = true;
            if ty != guest_abort::SIGNATURE {
                problems.push(format!("import `env.abort` has type {ty}, expected {}", guest_abort::SIGNATURE));
            }
        } else if HOST_MODULES.contains(&module_name) {
            match HOST_FUNCTIONS.iter().find(|(n, _)| *n == name) {
                None => problems.push(format!("imports `{module_name}.{name}`, which flowctl does not provide")),
                Some((_, expected)) if ty != *expected => {
                    problems.push(format!("import `{module_name}.{name}` has type {ty}, expected {expected}"))
                }
                Some(_) => {}
            }
        } else {
            problems.push(format!(
                "imports module `{module_name}` (`{module_name}.{name}`), which flowctl does not provide"
            ));
        }
        report.imports.push(Item { name: format!("{module_name}.{name}"), ty });
    }
    if report.uses_wasi {
        report.notes.push(format!(
            "imports module `{WASI_MODULE}`: runs with locked-down WASI (no files, environment or network)"
        ));
    }
    if report.imports_abort {
        report.notes.push(
            "imports `env.abort` (AssemblyScript): an abort fails the call with the guest's message and location"
                .to_owned(),
        );
    }
    if !report.declares_abi_version {
        report.notes.push("no `flowctl_abi_version` export: treated as ABI v1 (the original contract)".to_owned());
    }
    report.problems = problems;
    report
}

fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => signature(f),
        ExternType::Memory(m) => format!("memory (min {} pages)", m.minimum()),
        ExternType::Global(_) => "global".to_owned(),
        ExternType::Table(_) => "table".to_owned(),
        ExternType::Tag(_) => "tag".to_owned(),
    }
}

fn signature(f: &FuncType) -> String {
    let params: Vec<String> = f.params().map(|p| p.to_string()).collect();
    let results: Vec<String> = f.results().map(|r| r.to_string()).collect();
    let results = match results.len() {
        0 => "()".to_owned(),
        1 => results[0].clone(),
        _ => format!("({})", results.join(", ")),
    };
    format!("({}) -> {results}", params.join(", "))
}

impl fmt::Display for ModuleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_usable() { "usable" } else { "NOT usable" };
        writeln!(f, "ABI version {}; {verdict}", self.abi_version)?;
        let mode = match (self.has_process_batch, self.has_init) {
            (true, true) => "batched, with init",
            (true, false) => "batched",
            (false, true) => "per event, with init",
            (false, false) => "per event",
        };
        writeln!(f, "kind: {}", self.kind)?;
        writeln!(f, "calls: {mode}")?;
        writeln!(f, "exports:")?;
        for e in &self.exports {
            writeln!(f, "  {:<22} {}", e.name, e.ty)?;
        }
        writeln!(f, "imports:{}", if self.imports.is_empty() { " none" } else { "" })?;
        for i in &self.imports {
            writeln!(f, "  {:<22} {}", i.name, i.ty)?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        for problem in &self.problems {
            writeln!(f, "problem: {problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"(module
        (import "flowctl" "log" (func (param i32 i32 i32)))
        (memory (export "memory") 1)
        (func (export "allocate") (param i32) (result i32) i32.const 0)
        (func (export "free") (param i32 i32))
        (func (export "process_event") (param i32 i32) (result i64) i64.const 0))"#;

    #[test]
    fn a_complete_module_is_usable() {
        let report = inspect(GOOD.as_bytes());
        assert!(report.is_usable(), "{report}");
        assert_eq!(report.abi_version, 1);
        assert!(!report.has_process_batch);
        assert_eq!(report.imports, vec![Item { name: "flowctl.log".into(), ty: "(i32, i32, i32) -> ()".into() }]);
        let text = report.to_string();
        assert!(text.contains("process_event") && text.contains("usable"), "{text}");
    }

    #[test]
    fn missing_and_mistyped_exports_are_named() {
        let report = inspect(
            br#"(module (memory (export "memory") 1)
                (func (export "free") (param i32 i32))
                (func (export "process_event") (param i32) (result i32) i32.const 0))"#,
        );
        assert!(!report.is_usable());
        assert!(
            report.problems.contains(&"missing export `allocate` (fn(i32) -> i32)".to_owned()),
            "{:?}",
            report.problems
        );
        assert!(
            report
                .problems
                .contains(&"export `process_event` has type (i32) -> i32, expected (i32, i32) -> i64".to_owned()),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn unknown_imports_and_wasi_are_reported() {
        let report = inspect(
            br#"(module
                (import "flowctl" "foo" (func))
                (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                (import "os" "exec" (func)))"#,
        );
        assert!(
            report.problems.contains(&"imports `flowctl.foo`, which flowctl does not provide".to_owned()),
            "{:?}",
            report.problems
        );
        assert!(report.problems.iter().any(|p| p.starts_with("imports module `os`")), "{:?}", report.problems);
        assert!(report.uses_wasi);
        assert!(report.notes.iter().any(|n| n.contains("locked-down WASI")));
    }

    fn with(extra: &str) -> String {
        GOOD.replacen("(memory", &format!("{extra}\n        (memory"), 1)
    }

    #[test]
    fn reactors_commands_and_libraries_are_told_apart() {
        assert_eq!(inspect(GOOD.as_bytes()).kind, ModuleKind::Library);
        let reactor = inspect(with(r#"(func (export "_initialize"))"#).as_bytes());
        assert_eq!(reactor.kind, ModuleKind::Reactor);
        assert!(reactor.is_usable(), "{reactor}");
        assert!(reactor.to_string().contains("kind: WASI reactor"), "{reactor}");

        let command = inspect(with(r#"(func (export "_start"))"#).as_bytes());
        assert_eq!(command.kind, ModuleKind::Command);
        assert!(command.problems.iter().any(|p| p.contains("-buildmode=c-shared")), "{command}");

        let mistyped = inspect(with(r#"(func (export "_initialize") (param i32))"#).as_bytes());
        assert!(mistyped.problems.iter().any(|p| p.contains("`_initialize` has type (i32) -> ()")), "{mistyped}");
    }

    #[test]
    fn assemblyscript_abort_is_provided() {
        let report = inspect(with(r#"(import "env" "abort" (func (param i32 i32 i32 i32)))"#).as_bytes());
        assert!(report.is_usable(), "{report}");
        assert!(report.imports_abort);
        assert!(report.notes.iter().any(|n| n.contains("AssemblyScript")), "{report}");
        let wrong = inspect(with(r#"(import "env" "abort" (func (param i32)))"#).as_bytes());
        assert!(wrong.problems.iter().any(|p| p.contains("`env.abort` has type (i32) -> ()")), "{wrong}");
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let report = inspect(b"\0asm\x01\0\0\0\xff\xff");
        assert!(!report.is_usable());
        assert!(report.problems[0].starts_with("not valid WebAssembly"), "{:?}", report.problems);
        assert!(!inspect(b"").is_usable());
    }
}
