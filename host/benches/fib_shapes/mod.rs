//! Like-with-like fuel rows: the same fib, written in WAT, run as a plain core module
//! and lifted through a component, on engines made by `hooklet::wasm::engine_config`
//! (hooklet's own settings: pooling allocator, fuel and epochs as metered), unmetered,
//! epochs only, and fuel + epochs. Two shapes of fib:
//!
//! * `two calls`: the textbook recursion, two calls per frame (what wasmtime's own
//!   measurements of fuel use);
//! * `one call + loop`: what rustc -O makes of the `compute` plugin's fib: LLVM turns the
//!   second recursive call into a loop with an accumulator, so each frame is one call
//!   and a short loop.
//!
//! Fuel and epoch checks are placed by wasmtime at function entries and loop headers,
//! and the fuel counter is stored around every call: their cost in proportion depends on
//! how much work the guest does between those points, which these rows show.

use std::time::{Duration, Instant};

use hooklet::wasm::{engine_config, Metering, WasmConfig};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Engine, Instance, Module, Store};

use super::{row, Results};

const FIB_ARG: u32 = 27;

const TWO_CALLS: &str = r#"
(func $fib (export "fib") (param $n i32) (result i64)
  (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
    (then (i64.extend_i32_u (local.get $n)))
    (else (i64.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                   (call $fib (i32.sub (local.get $n) (i32.const 2)))))))"#;

const ONE_CALL_AND_LOOP: &str = r#"
(func $fib (export "fib") (param $n i32) (result i64)
  (local $acc i64)
  (block $done
    (loop $next
      (br_if $done (i32.lt_u (local.get $n) (i32.const 2)))
      (local.set $acc (i64.add (local.get $acc) (call $fib (i32.sub (local.get $n) (i32.const 1)))))
      (local.set $n (i32.sub (local.get $n) (i32.const 2)))
      (br $next)))
  (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))"#;

fn core_module(func: &str) -> String {
    format!("(module {func})")
}

fn component(func: &str) -> String {
    format!(
        "(component
           (core module $m {func})
           (core instance $i (instantiate $m))
           (func (export \"fib\") (param \"n\" u32) (result u64) (canon lift (core func $i \"fib\"))))"
    )
}

fn engine(metering: Metering) -> Engine {
    let config = engine_config(&WasmConfig { metering, ..WasmConfig::default() }).unwrap();
    Engine::new(&config).unwrap()
}

/// A store metered as hooklet meters a delivery: a fuel budget, an epoch deadline far
/// enough away that the run is never interrupted (the checks are what is measured).
fn store(engine: &Engine, metering: Metering) -> Store<()> {
    let mut store = Store::new(engine, ());
    if metering.fuel() {
        store.set_fuel(u64::MAX / 4).unwrap();
    }
    if metering.epochs() {
        store.set_epoch_deadline(u64::MAX / 4);
    }
    store
}

/// One fib under one metering, as a core module or through a component.
enum Fib {
    Core { engine: Engine, module: Module, metering: Metering },
    Component { engine: Engine, pre: InstancePre<()>, metering: Metering },
}

impl Fib {
    fn new(func: &str, as_component: bool, metering: Metering) -> Fib {
        let engine = engine(metering);
        if as_component {
            let component = Component::new(&engine, component(func)).unwrap();
            let pre = Linker::<()>::new(&engine).instantiate_pre(&component).unwrap();
            Fib::Component { engine, pre, metering }
        } else {
            let module = Module::new(&engine, core_module(func)).unwrap();
            Fib::Core { engine, module, metering }
        }
    }

    /// One call in a fresh store and instance, as per delivery (instantiation is
    /// microseconds, the call about a millisecond).
    async fn once(&self) -> u64 {
        match self {
            Fib::Core { engine, module, metering } => {
                let mut store = store(engine, *metering);
                let instance = Instance::new_async(&mut store, module, &[]).await.unwrap();
                let fib = instance.get_typed_func::<i32, i64>(&mut store, "fib").unwrap();
                fib.call_async(&mut store, FIB_ARG as i32).await.unwrap() as u64
            }
            Fib::Component { engine, pre, metering } => {
                let mut store = store(engine, *metering);
                let instance = pre.instantiate_async(&mut store).await.unwrap();
                let fib = instance.get_typed_func::<(u32,), (u64,)>(&mut store, "fib").unwrap();
                fib.call_async(&mut store, (FIB_ARG,)).await.unwrap().0
            }
        }
    }
}

/// p50 and p99 of each configuration, run in rounds (one run of each per round, after
/// a warm-up round) so that a change of load on the machine hits all of them alike.
pub async fn interleaved<'a, C, F, Fut>(configs: &'a [C], rounds: usize, run: F) -> Vec<(Duration, Duration)>
where
    F: Fn(&'a C) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = vec![Vec::with_capacity(rounds); configs.len()];
    for round in 0..=rounds {
        for (config, taken) in configs.iter().zip(samples.iter_mut()) {
            let started = Instant::now();
            run(config).await;
            if round > 0 {
                taken.push(started.elapsed());
            }
        }
    }
    samples
        .into_iter()
        .map(|mut taken| {
            taken.sort();
            let at = |q: f64| taken[((taken.len() - 1) as f64 * q) as usize];
            (at(0.5), at(0.99))
        })
        .collect()
}

/// The meterings compared, the unmetered baseline first.
pub const METERINGS: [Metering; 3] = [Metering::Neither, Metering::EpochsOnly, Metering::FuelAndEpochs];

/// Prints and records the rows; every run must give fib(27) = 196418.
pub async fn rows(out: &mut Results, rounds: usize) {
    for (shape, func) in [("two calls", TWO_CALLS), ("one call + loop", ONE_CALL_AND_LOOP)] {
        for as_component in [false, true] {
            let label = format!("WAT fib({FIB_ARG}), {shape}, {}", if as_component { "component" } else { "core module" });
            let fibs: Vec<Fib> = METERINGS.iter().map(|m| Fib::new(func, as_component, *m)).collect();
            let timed = interleaved(&fibs, rounds, |fib| async move {
                assert_eq!(fib.once().await, 196_418, "fib({FIB_ARG})");
            })
            .await;
            let base = timed[0].0;
            for (metering, (p50, p99)) in METERINGS.iter().zip(timed) {
                row(out, "fuel", &format!("{label}: {metering:?}"), p50, p99, base);
            }
        }
    }
}
