// Parley stand-in for ankerl/unordered_dense.h (https://github.com/martinus/unordered_dense).
// mediasoup's worker uses it only as a map, a set and a hash functor; this header maps those
// onto std::unordered_map / std::unordered_set / std::hash, which have the same interface for
// that use (insert/emplace/find/erase/iteration/operator[]/at/size/clear/reserve).
#ifndef PARLEY_ANKERL_UNORDERED_DENSE_STANDIN_H
#define PARLEY_ANKERL_UNORDERED_DENSE_STANDIN_H

#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ankerl::unordered_dense
{
	template<class T>
	using hash = std::hash<T>;

	template<
	  class Key,
	  class T,
	  class Hash      = hash<Key>,
	  class KeyEqual  = std::equal_to<Key>,
	  class Allocator = std::allocator<std::pair<const Key, T>>>
	using map = std::unordered_map<Key, T, Hash, KeyEqual, Allocator>;

	template<
	  class Key,
	  class Hash      = hash<Key>,
	  class KeyEqual  = std::equal_to<Key>,
	  class Allocator = std::allocator<Key>>
	using set = std::unordered_set<Key, Hash, KeyEqual, Allocator>;
} // namespace ankerl::unordered_dense

#endif
