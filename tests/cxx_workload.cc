/*
 * cxx_workload.cc - an ordinary C++ program that leans on the standard
 * library's containers, strings, smart pointers, exceptions and threads,
 * for tests/preload_smoke.sh: its output must not change when libhakmem.so
 * is preloaded (and its operator new is hakmem's then).  It does not know
 * about hakmem.
 */
#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct Shape {
    virtual ~Shape() = default;
    virtual double area() const = 0;
};
struct Rect : Shape {
    double w, h;
    Rect(double a, double b) : w(a), h(b) {}
    double area() const override { return w * h; }
};
struct Tri : Shape {
    double b, h;
    std::vector<double> extra;
    Tri(double x, double y) : b(x), h(y), extra(static_cast<size_t>(x) % 50) {}
    double area() const override { return b * h / 2; }
};

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

int main()
{
    uint64_t h = 0xcbf29ce484222325ull;

    /* Strings and maps. */
    std::map<std::string, std::vector<int>> index;
    std::unordered_map<std::string, std::string> dict;
    for (int i = 0; i < 200000; i++) {
        std::string key = "k" + std::to_string((i * 7919) % 30011);
        index[key].push_back(i);
        dict[key] += static_cast<char>('a' + i % 26);
    }
    for (const auto &kv : index)
        h = mix(h, kv.second.size() * 31 + dict[kv.first].size());

    /* Polymorphic objects (sized delete through virtual destructors). */
    std::vector<std::unique_ptr<Shape>> shapes;
    for (int i = 0; i < 100000; i++) {
        if (i % 3)
            shapes.push_back(std::make_unique<Rect>(i % 17, i % 13));
        else
            shapes.push_back(std::make_unique<Tri>(i % 101, i % 7));
        if (i % 5 == 0)
            shapes.erase(shapes.begin() + (i * 31) % static_cast<int>(shapes.size()));
    }
    double total = 0;
    for (const auto &s : shapes)
        total += s->area();
    h = mix(h, static_cast<uint64_t>(total));

    /* Lists, sets, shared pointers, sorting. */
    std::list<std::shared_ptr<std::string>> l;
    std::set<std::string> seen;
    for (int i = 0; i < 50000; i++) {
        auto s = std::make_shared<std::string>(std::to_string(i * i % 9973));
        seen.insert(*s);
        l.push_back(s);
        if (l.size() > 1000)
            l.pop_front();
    }
    std::vector<std::string> sorted(seen.begin(), seen.end());
    std::sort(sorted.begin(), sorted.end(), std::greater<std::string>());
    h = mix(h, sorted.size() + sorted.front().size());

    /* Exceptions (the runtime allocates each one). */
    int caught = 0;
    for (int i = 0; i < 20000; i++) {
        try {
            if (i % 3 == 0)
                throw std::runtime_error("error number " + std::to_string(i));
            std::vector<int> v(static_cast<size_t>(i % 100));
            (void)v.at(static_cast<size_t>(i % 150));
        } catch (const std::exception &e) {
            caught += static_cast<int>(std::string(e.what()).size() > 0);
        }
    }
    h = mix(h, static_cast<uint64_t>(caught));

    /* Threads build strings; the main thread frees them. */
    std::vector<std::vector<std::string>> made(8);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; t++) {
        threads.emplace_back([t, &made] {
            for (int i = 0; i < 20000; i++) {
                std::ostringstream os;
                os << "thread " << t << " item " << i;
                made[static_cast<size_t>(t)].push_back(os.str());
            }
        });
    }
    for (auto &th : threads)
        th.join();
    size_t chars = 0;
    for (auto &v : made)
        for (auto &str : v)
            chars += str.size();
    made.clear();
    h = mix(h, chars);

    std::cout << "index " << index.size() << " shapes " << shapes.size() << " strings "
              << sorted.size() << " caught " << caught << " chars " << chars << " hash "
              << std::hex << h << std::endl;
    return 0;
}
