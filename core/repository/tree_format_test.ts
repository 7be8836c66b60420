import { assertEquals, assertThrows } from "@std/assert";
