(module
  ;; The FastCDC gear loop of core/chunker.ts. Memory: the 256-entry gear table (i32, little-endian) at
  ;; bytes [0, 1024), the data from byte 1024 on. find(i, normal, limit, maskS, maskL) rolls the gear hash
  ;; from data index i, with maskS before index `normal` and maskL from there to `limit`, and returns the
  ;; index after the first byte where (hash & mask) == 0, or 0 when there is none before `limit`.
  (memory (export "memory") 1)
  (func (export "find") (param $i i32) (param $normal i32) (param $limit i32) (param $maskS i32) (param $maskL i32) (result i32)
    (local $h i32)
    (block $small
      (loop $l1
        (br_if $small (i32.ge_u (local.get $i) (local.get $normal)))
        (local.set $h
          (i32.add
            (i32.shl (local.get $h) (i32.const 1))
            (i32.load (i32.shl (i32.load8_u offset=1024 (local.get $i)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l1 (i32.and (local.get $h) (local.get $maskS)))
        (return (local.get $i))))
    (block $large
      (loop $l2
        (br_if $large (i32.ge_u (local.get $i) (local.get $limit)))
        (local.set $h
          (i32.add
            (i32.shl (local.get $h) (i32.const 1))
            (i32.load (i32.shl (i32.load8_u offset=1024 (local.get $i)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l2 (i32.and (local.get $h) (local.get $maskL)))
        (return (local.get $i))))
    (i32.const 0)))
